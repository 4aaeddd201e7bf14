package app

import (
	"context"
	"sync"
	"time"
)

// targetAge is how long the tracker's answer to "where do I upload?"
// (QUERY_STORE) serves the uploads that follow. The query was a tracker
// round trip per upload: a ninth of the upload program's CPU for a 4 KiB
// upload in process (BenchmarkWeb's profile), and the tracker's work
// besides. An upload to a remembered storage that fails is tried again
// once with a fresh answer, so a storage gone down or full costs a retry,
// not a failed upload; within the age the tracker's balancing (round
// robin, free space) sees one choice.
const targetAge = 250 * time.Millisecond

// storeTarget is a remembered QUERY_STORE answer.
type storeTarget struct {
	mu        sync.Mutex
	addr      string // ip:port; "" when none
	pathIndex int
	until     time.Time
}

// target returns where to upload: a remembered answer (cached true) or a
// fresh one, remembered for targetAge.
func (a *App) target(ctx context.Context, fresh bool) (addr string, pathIndex int, cached bool, err error) {
	t := &a.storeTarget
	now := time.Now()
	if !fresh {
		t.mu.Lock()
		addr, pathIndex, ok := t.addr, t.pathIndex, t.addr != "" && now.Before(t.until)
		t.mu.Unlock()
		if ok {
			return addr, pathIndex, true, nil
		}
	}
	st, err := a.dfs.QueryStore(ctx, "")
	if err != nil {
		return "", 0, false, err
	}
	if len(st.Storages) == 0 { // the client refuses such answers; never trust one
		return "", -1, false, nil
	}
	addr, pathIndex = st.Storages[0].String(), int(st.PathIndex)
	t.mu.Lock()
	t.addr, t.pathIndex, t.until = addr, pathIndex, now.Add(targetAge)
	t.mu.Unlock()
	return addr, pathIndex, false, nil
}

// forgetTarget drops a remembered answer an upload to addr failed with.
func (a *App) forgetTarget(addr string) {
	t := &a.storeTarget
	t.mu.Lock()
	if t.addr == addr {
		t.addr = ""
	}
	t.mu.Unlock()
}

// withTarget runs upload against the storage to upload to: a remembered
// one first, and when that fails, once more against a fresh answer.
// upload must be able to run twice (the content still at hand). addr ""
// lets upload ask the tracker itself.
func (a *App) withTarget(ctx context.Context, upload func(addr string, pathIndex int) (string, error)) (string, error) {
	addr, pathIndex, cached, err := a.target(ctx, false)
	if err != nil {
		// Let the upload ask: its error then says what failed.
		return upload("", -1)
	}
	id, err := upload(addr, pathIndex)
	if err == nil || !cached || ctx.Err() != nil {
		return id, err
	}
	a.forgetTarget(addr)
	if addr2, pathIndex2, _, err2 := a.target(ctx, true); err2 == nil {
		addr, pathIndex = addr2, pathIndex2
	} else {
		addr, pathIndex = "", -1
	}
	return upload(addr, pathIndex)
}
