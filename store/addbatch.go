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
// round records all of them in one add_uploads call, one transaction
// (from setBatchMin uploads on, add_uploads_set: a fixed number of
// statements for the round, migration 0015).
// A lone upload goes straight to add_upload as before, so nothing waits
// when nothing else is running. Each round costs MariaDB one statement,
// one COMMIT and one round trip, instead of one per upload (its CPU per
// 4 KiB web upload was about a third of the web path's).

// setBatchMin is the smallest round add_uploads_set records: below it,
// add_uploads' statements for each upload cost MariaDB about as much as
// the set-based ones for the round. MariaDB's CPU per upload, rounds of
// distinct content of one user (TestAddUploadsRound's timing, by hand):
// 2 uploads 0.25 ms (add_uploads) against 0.30 (add_uploads_set), 4: 0.19
// against 0.19, 8: 0.16 against 0.11, 16: 0.15 against 0.08, 32: 0.15
// against 0.06-0.08.
var setBatchMin = 4 // a variable for the tests

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

// callAddUploads runs add_uploads (add_uploads_set from setBatchMin
// uploads on) for a batch: the outcome of every upload, or an error for
// the whole batch (ErrCommitUnknown when CALL went out and no answer came
// back).
func (s *Store) callAddUploads(ctx context.Context, batch []*addReq) ([]addOutcome, error) {
	set := len(batch) >= setBatchMin
	js, err := addUploadsJSON(batch, s.opt.Quota, set)
	if err != nil {
		return nil, err
	}
	call := "CALL add_uploads(?)"
	if set {
		call = "CALL add_uploads_set(?)"
	}
	for attempt := 1; ; attempt++ {
		var out string
		err := s.db.QueryRowContext(ctx, call, js).Scan(&out)
		var me *mysql.MySQLError
		switch {
		case err == nil && set:
			return parseAddUploadsSet(out, batch)
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

// addUploadsJSON is a batch as add_uploads takes it, with the members
// add_uploads_set needs besides when set (migration 0015): the user's
// number in the batch, whether the upload must go to add_entry anyway
// (no file ID; its content, or its name in its folder, twice in the
// batch), whether it is the user's first, and the number and bytes of the
// user's uploads.
func addUploadsJSON(batch []*addReq, quota int64, set bool) (string, error) {
	type userSum struct {
		uid          int
		files, bytes int64
		seen         bool // an upload of the user is in items
	}
	type nameKey struct {
		user   string
		folder int64
		name   string
	}
	users := map[string]*userSum{}
	md5s := map[string]int{}
	names := map[nameKey]int{}
	if set {
		for _, r := range batch {
			f := r.f
			u := users[f.User]
			if u == nil {
				u = &userSum{uid: len(users) + 1}
				users[f.User] = u
			}
			u.files++
			u.bytes += f.Size
			md5s[f.MD5]++
			// Names compare as the column does: utf8mb4_bin pads with
			// spaces, so trailing ones do not count.
			names[nameKey{f.User, f.FolderID, strings.TrimRight(f.FileName, " ")}]++
		}
	}
	items := make([][]any, len(batch))
	for i, r := range batch {
		f := r.f
		for _, v := range []string{f.User, f.MD5, f.FileName, f.FileID, f.URL, f.Type} {
			if !utf8.ValidString(v) { // JSON would alter it
				return "", fmt.Errorf("add uploads: %w: not UTF-8", ErrInvalid)
			}
		}
		items[i] = []any{f.User, f.MD5, f.FileName, f.FileID, f.URL, f.Size, f.Type, quota, f.FolderID}
		if set {
			u := users[f.User]
			pre := f.FileID == "" || md5s[f.MD5] > 1 || names[nameKey{f.User, f.FolderID, strings.TrimRight(f.FileName, " ")}] > 1
			first := !u.seen
			u.seen = true
			items[i] = append(items[i], u.uid, b2i(pre), b2i(first), u.files, u.bytes)
		}
	}
	var js strings.Builder
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(items); err != nil {
		return "", fmt.Errorf("add uploads: %w", err)
	}
	return js.String(), nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
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
		o, err := parseOutcome(l, strings.SplitN(l, " ", 4))
		if err != nil {
			return nil, err
		}
		res[i] = o
	}
	return res, nil
}

// parseOutcome reads the fields "<status> <gc_id> <file_id> <file_name>"
// of the answer line l.
func parseOutcome(l string, f []string) (addOutcome, error) {
	if len(f) != 4 {
		return addOutcome{}, fmt.Errorf("add uploads: %w (answer %q)", ErrCommitUnknown, l)
	}
	status, err1 := strconv.Atoi(f[0])
	gc, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return addOutcome{}, fmt.Errorf("add uploads: %w (answer %q)", ErrCommitUnknown, l)
	}
	if err := addStatusErr(status); err != nil {
		return addOutcome{err: err, res: AddResult{FileName: f[3]}}, nil
	}
	return addOutcome{res: AddResult{FileID: f[2], GCID: gc, Dup: gc > 0, FileName: f[3]}}, nil
}

// parseAddUploadsSet reads add_uploads_set's answer (migration 0015): a
// line "<s> <d>", then a line "<i> <status> <gc_id> <file_id>
// <file_name>" (i the upload's place from 1) for each upload recorded
// set-based whose content was known (d of them) and each recorded by
// add_entry; an upload with no line was recorded set-based as asked. The
// batch has committed by then: an answer that cannot be read leaves every
// outcome unknown.
func parseAddUploadsSet(out string, batch []*addReq) ([]addOutcome, error) {
	n := len(batch)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var fast, dups int
	if _, err := fmt.Sscanf(lines[0], "%d %d", &fast, &dups); err != nil || fast < 0 || dups < 0 || fast > n || dups > fast {
		return nil, fmt.Errorf("add uploads: %w (answer %q)", ErrCommitUnknown, lines[0])
	}
	lines = lines[1:]
	if len(lines) != n-fast+dups {
		return nil, fmt.Errorf("add uploads: %w (%d answers for %d uploads, %d set-based)", ErrCommitUnknown, len(lines), n, fast)
	}
	res := make([]addOutcome, n)
	seen := make([]bool, n)
	for _, l := range lines {
		place, rest, _ := strings.Cut(l, " ")
		i, err := strconv.Atoi(place)
		if err != nil || i < 1 || i > n || seen[i-1] {
			return nil, fmt.Errorf("add uploads: %w (answer %q)", ErrCommitUnknown, l)
		}
		o, err := parseOutcome(l, strings.SplitN(rest, " ", 4))
		if err != nil {
			return nil, err
		}
		seen[i-1], res[i-1] = true, o
	}
	for i, r := range batch {
		if !seen[i] {
			res[i].res = AddResult{FileID: r.f.FileID, FileName: r.f.FileName}
		}
	}
	return res, nil
}
