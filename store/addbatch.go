package store

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
)

// Group commit of uploads: AddUploaded calls that arrive while the
// recording of earlier ones is under way wait in a queue, and the next
// round records all of them in one add_uploads call, one transaction.
// A lone upload goes straight to add_upload as before, so nothing waits
// when nothing else is running. Each round costs MariaDB one statement,
// one COMMIT and one round trip, instead of one per upload (its CPU per
// 4 KiB web upload was about a third of the web path's).

// maxAddBatch bounds the uploads one transaction records (its row locks
// and the statement's size).
const maxAddBatch = 32

// addQueueLen bounds the uploads waiting for the next round; past it,
// callers wait to queue.
const addQueueLen = 256

type addReq struct {
	f    NewFile
	done chan addOutcome
}

type addOutcome struct {
	res AddResult
	err error
}

// addBatcher runs the rounds: one goroutine, started by the first upload
// and ended by Close.
type addBatcher struct {
	s      *Store
	start  sync.Once
	mu     sync.RWMutex // held to queue; Close takes it to stop queuing
	closed bool
	q      chan *addReq
	done   chan struct{} // closed when the goroutine has ended
}

func newAddBatcher(s *Store) *addBatcher {
	return &addBatcher{s: s, q: make(chan *addReq, addQueueLen), done: make(chan struct{})}
}

// add records f, in a round with whatever else is waiting.
func (b *addBatcher) add(ctx context.Context, f NewFile) (AddResult, error) {
	b.start.Do(func() { go b.run() })
	r := &addReq{f: f, done: make(chan addOutcome, 1)}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return b.s.addOne(ctx, f)
	}
	b.q <- r
	b.mu.RUnlock()
	out := <-r.done
	return out.res, out.err
}

// run takes what is queued, up to maxAddBatch, and records it, until
// close ends the queue. Like AddUploaded's, its context has no deadline:
// the driver's read timeout bounds a round.
func (b *addBatcher) run() {
	defer close(b.done)
	ctx := context.Background()
	batch := make([]*addReq, 0, maxAddBatch)
	for r := range b.q {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < maxAddBatch {
			select {
			case r, ok := <-b.q:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		b.s.addBatch(ctx, batch)
	}
}

// close stops queuing, lets the goroutine finish what is queued and waits
// for it (when it was started).
func (b *addBatcher) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	close(b.q)
	started := true
	b.start.Do(func() { started = false })
	if started {
		<-b.done
	}
}

// addBatch records a round's uploads and answers each caller.
func (s *Store) addBatch(ctx context.Context, batch []*addReq) {
	answer := func(i int, res AddResult, err error) { batch[i].done <- addOutcome{res, err} }
	if len(batch) == 1 {
		res, err := s.addOne(ctx, batch[0].f)
		answer(0, res, err)
		return
	}
	results, err := s.callAddUploads(ctx, batch)
	if err == nil {
		for i, res := range results {
			answer(i, res.res, res.err)
		}
		return
	}
	if errors.Is(err, ErrCommitUnknown) {
		for i := range batch {
			answer(i, AddResult{}, err)
		}
		return
	}
	// The round was refused as a whole (and rolled back): record each
	// upload on its own, so that one bad upload fails alone.
	s.log.Debug().Err(err).Int("uploads", len(batch)).Msg("add_uploads refused; recording one by one")
	for i, r := range batch {
		res, err := s.addOne(ctx, r.f)
		answer(i, res, err)
	}
}

// callAddUploads runs add_uploads for a batch: the outcome of every
// upload, or an error for the whole batch (ErrCommitUnknown when CALL went
// out and no answer came back).
func (s *Store) callAddUploads(ctx context.Context, batch []*addReq) ([]addOutcome, error) {
	items := make([][7]any, len(batch))
	for i, r := range batch {
		f := r.f
		for _, v := range []string{f.User, f.MD5, f.FileName, f.FileID, f.URL, f.Type} {
			if !utf8.ValidString(v) { // JSON would alter it
				return nil, fmt.Errorf("add uploads: %w: not UTF-8", ErrInvalid)
			}
		}
		items[i] = [7]any{f.User, f.MD5, f.FileName, f.FileID, f.URL, f.Size, f.Type}
	}
	var js strings.Builder
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(items); err != nil {
		return nil, fmt.Errorf("add uploads: %w", err)
	}
	for attempt := 1; ; attempt++ {
		var out string
		err := s.db.QueryRowContext(ctx, "CALL add_uploads(?)", js.String()).Scan(&out)
		var me *mysql.MySQLError
		switch {
		case err == nil:
			return parseAddUploads(out, len(batch))
		case isDeadlock(err) && attempt < maxTxAttempts:
			time.Sleep(time.Duration(rand.IntN(5*attempt)+1) * time.Millisecond)
			continue
		case errors.As(err, &me), errors.Is(err, driver.ErrBadConn):
			return nil, wrapDB("add uploads", err) // rolled back, or never sent
		default:
			return nil, fmt.Errorf("add uploads: %w (%w)", ErrCommitUnknown, err)
		}
	}
}

// parseAddUploads reads add_uploads' answer: n lines "<dup> <gc_id>
// <file_id>". The batch has committed by then: an answer that cannot be
// read leaves every outcome unknown.
func parseAddUploads(out string, n int) ([]addOutcome, error) {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != n {
		return nil, fmt.Errorf("add uploads: %w (%d answers for %d uploads)", ErrCommitUnknown, len(lines), n)
	}
	res := make([]addOutcome, n)
	for i, l := range lines {
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("add uploads: %w (answer %q)", ErrCommitUnknown, l)
		}
		gc, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("add uploads: %w (answer %q)", ErrCommitUnknown, l)
		}
		if f[0] == "1" {
			res[i].err = ErrExists
			continue
		}
		res[i].res = AddResult{FileID: f[2], GCID: gc, Dup: gc > 0}
	}
	return res, nil
}
