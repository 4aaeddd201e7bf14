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

// addQueueLen bounds the uploads waiting for the next round; past it, an
// upload is recorded on its own at once.
const addQueueLen = 256

type addReq struct {
	f    NewFile
	done chan addOutcome
}

type addOutcome struct {
	res AddResult
	err error
}

// addBatcher runs the rounds in a goroutine that lives while uploads
// wait: started by the upload that finds none running, ended when the
// queue is empty.
type addBatcher struct {
	s       *Store
	mu      sync.Mutex
	queue   []*addReq
	running bool
	closed  bool
	wg      sync.WaitGroup
}

func newAddBatcher(s *Store) *addBatcher { return &addBatcher{s: s} }

// add records f, in a round with whatever else is waiting.
func (b *addBatcher) add(ctx context.Context, f NewFile) (AddResult, error) {
	r := &addReq{f: f, done: make(chan addOutcome, 1)}
	b.mu.Lock()
	if b.closed || len(b.queue) >= addQueueLen {
		b.mu.Unlock()
		return b.s.addOne(ctx, f)
	}
	b.queue = append(b.queue, r)
	if !b.running {
		b.running = true
		b.wg.Add(1)
		go b.run()
	}
	b.mu.Unlock()
	out := <-r.done
	return out.res, out.err
}

// run records what is queued, up to maxAddBatch at a time, until nothing
// is. Like AddUploaded's, its context has no deadline: the driver's read
// timeout bounds a round.
func (b *addBatcher) run() {
	defer b.wg.Done()
	ctx := context.Background()
	batch := make([]*addReq, 0, maxAddBatch)
	for {
		b.mu.Lock()
		n := min(len(b.queue), maxAddBatch)
		if n == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		batch = append(batch[:0], b.queue[:n]...)
		rest := copy(b.queue, b.queue[n:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		b.mu.Unlock()
		b.s.addBatch(ctx, batch)
	}
}

// close stops queuing and waits for the rounds under way.
func (b *addBatcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
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
	items := make([][8]any, len(batch))
	for i, r := range batch {
		f := r.f
		for _, v := range []string{f.User, f.MD5, f.FileName, f.FileID, f.URL, f.Type} {
			if !utf8.ValidString(v) { // JSON would alter it
				return nil, fmt.Errorf("add uploads: %w: not UTF-8", ErrInvalid)
			}
		}
		items[i] = [8]any{f.User, f.MD5, f.FileName, f.FileID, f.URL, f.Size, f.Type, s.opt.Quota}
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

// parseAddUploads reads add_uploads' answer: n lines "<status> <gc_id>
// <file_id> <file_name>". The batch has committed by then: an answer that
// cannot be read leaves every outcome unknown.
func parseAddUploads(out string, n int) ([]addOutcome, error) {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != n {
		return nil, fmt.Errorf("add uploads: %w (%d answers for %d uploads)", ErrCommitUnknown, len(lines), n)
	}
	res := make([]addOutcome, n)
	for i, l := range lines {
		f := strings.SplitN(l, " ", 4)
		if len(f) != 4 {
			return nil, fmt.Errorf("add uploads: %w (answer %q)", ErrCommitUnknown, l)
		}
		status, err1 := strconv.Atoi(f[0])
		gc, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("add uploads: %w (answer %q)", ErrCommitUnknown, l)
		}
		if err := addStatusErr(status); err != nil {
			res[i].err = err
			continue
		}
		res[i].res = AddResult{FileID: f[2], GCID: gc, Dup: gc > 0, FileName: f[3]}
	}
	return res, nil
}
