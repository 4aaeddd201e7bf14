package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// DefaultPartSize is how much UploadResumable sends per request.
const DefaultPartSize = 8 << 20

// ResumableOptions tune UploadResumable.
type ResumableOptions struct {
	Group string // upload into this group; "" lets the tracker choose
	// Storage ("ip:port") receives the appender file without asking the
	// tracker, into store path PathIndex (−1: the storage chooses).
	Storage   string
	PathIndex int
	PartSize  int64 // bytes per APPEND/MODIFY request; 0 = DefaultPartSize
	// Parallel > 1 sets the file to its full size first, then writes parts
	// at their offsets (MODIFY) over that many connections.
	Parallel int
	StateDir string // where the state file goes; "" = next to the source
	// RateLimit caps the sending rate in bytes per second over all
	// connections; 0 means no limit.
	RateLimit int64
	// Progress, when set, is called (never concurrently) with the bytes
	// sent so far, counting what an earlier run already stored, and the
	// file size.
	Progress func(done, total int64)
}

// resumeState is the JSON state file of one resumable upload. It is keyed
// by the source's absolute path, size and mtime: if any of them changed,
// the upload starts over.
type resumeState struct {
	Version   int    `json:"version"`
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	MtimeNs   int64  `json:"mtime_ns"`
	Appender  string `json:"appender"`            // the appender file ID
	Parallel  bool   `json:"parallel"`            // MODIFY at offsets instead of APPEND
	PartSize  int64  `json:"part_size"`           //
	Truncated bool   `json:"truncated,omitempty"` // parallel: set to the full size
	Done      []byte `json:"done,omitempty"`      // parallel: bitmap of parts written
	Final     string `json:"final,omitempty"`     // the regenerated file ID
}

const resumeStateVersion = 1

// StatePath is where UploadResumable keeps the state of uploading path:
// "<dir>/.<name>.fdfs-resume" next to it, or a name derived from the
// absolute path inside stateDir.
func StatePath(path, stateDir string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if stateDir == "" {
		return filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".fdfs-resume"), nil
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(stateDir, "fdfs-resume-"+hex.EncodeToString(sum[:8])+".json"), nil
}

// UploadResumable uploads the local file path as an ordinary file in parts
// and survives being interrupted: run it again (after a crash, a kill or a
// network failure) and it continues where the storage stands.
//
// It uploads an empty appender file, records its ID in a small state file,
// adds the content part by part at the end (or, with Parallel > 1, truncates the
// file to its full size and writes the parts at their offsets over several
// connections, recording every finished part; see sequential for why parts
// are written with MODIFY), then regenerates a normal
// file name, checks that the size and CRC32 in that name match the local
// file, removes the state file and returns the file ID. On resume the
// sequential mode continues from the size the storage reports
// (QUERY_FILE_INFO without CRC); the parallel mode redoes the parts not
// recorded as finished. The mode and part size of the first run apply to
// its resumptions. If the source changed in between (size or mtime), the
// old appender file is deleted and the upload starts over.
func (c *Client) UploadResumable(ctx context.Context, path, ext string, o ResumableOptions) (string, error) {
	id, err := c.uploadResumable(ctx, path, ext, o)
	if err != nil {
		return "", fmt.Errorf("resumable upload of %s: %w", path, err)
	}
	return id, nil
}

func (c *Client) uploadResumable(ctx context.Context, path, ext string, o ResumableOptions) (string, error) {
	f, total, err := OpenLocal(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if ext == "" {
		ext = fileid.ExtFromFilename(path)
	}
	if !fileid.ValidExt(ext) {
		return "", proto.Errf(proto.StatusEINVAL, "bad extension %q", ext)
	}
	if o.PartSize <= 0 {
		o.PartSize = DefaultPartSize
	}
	statePath, err := StatePath(path, o.StateDir)
	if err != nil {
		return "", err
	}
	if o.StateDir != "" {
		if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
			return "", err
		}
	}
	unlock, err := lockState(statePath)
	if err != nil {
		return "", err
	}
	defer unlock()
	abs, _ := filepath.Abs(path)
	key := resumeState{Version: resumeStateVersion, Path: abs, Size: total, MtimeNs: st.ModTime().UnixNano()}
	s := loadState(statePath)
	if s != nil && (s.Version != key.Version || s.Path != key.Path || s.Size != key.Size || s.MtimeNs != key.MtimeNs || s.PartSize <= 0) {
		// The source changed: what was stored is of no use.
		if s.Final == "" && s.Appender != "" {
			_ = c.Delete(ctx, s.Appender)
		}
		s = nil
	}
	u := &resumable{c: c, f: f, total: total, statePath: statePath, progress: o.Progress}
	if o.RateLimit > 0 {
		u.limit = &rateLimiter{rate: o.RateLimit, start: time.Now()}
	}
	if s != nil && s.Final != "" {
		u.st = s
		return u.finish(ctx)
	}
	var done int64
	if s != nil {
		fi, err := c.QueryFileInfo(ctx, s.Appender, FileInfoNoCRC|FileInfoSilent)
		switch {
		case err == nil:
			done = fi.Size
		case errors.Is(err, syscall.ENOENT):
			s = nil // gone (deleted, or its regeneration was never recorded)
		default:
			return "", err
		}
	}
	if s == nil {
		s = &key
		s.PartSize, s.Parallel = o.PartSize, o.Parallel > 1
		id, err := c.UploadWith(ctx, io.LimitReader(f, 0), 0, ext, UploadOptions{
			Group: o.Group, Appender: true, Storage: o.Storage, PathIndex: o.PathIndex})
		if err != nil {
			return "", err
		}
		s.Appender = id
		if err := saveState(statePath, s); err != nil {
			return "", err
		}
		done = 0
	}
	u.st = s
	_, remote, err := fileid.Split(s.Appender)
	if err != nil {
		return "", err
	}
	u.remote = remote
	fetch, err := c.QueryFetch(ctx, s.Appender, true)
	if err != nil {
		return "", err
	}
	u.addr = fetch.Storages[0].String()
	if s.Parallel {
		err = u.parallel(ctx, done, max(o.Parallel, 2))
	} else {
		err = u.sequential(ctx, done)
	}
	if err != nil {
		return "", err
	}
	newID, err := c.RegenerateAppenderFilename(ctx, s.Appender)
	if err != nil {
		return "", err
	}
	s.Final = newID
	if err := saveState(statePath, s); err != nil {
		return "", err
	}
	return u.finish(ctx)
}

// resumable is one run of UploadResumable.
type resumable struct {
	c         *Client
	f         *os.File
	total     int64
	statePath string
	st        *resumeState
	remote    string // of the appender file
	addr      string // its storage
	limit     *rateLimiter

	mu       sync.Mutex // serializes progress calls and state saves
	progress func(done, total int64)
	sent     int64
}

// report adds n sent bytes and tells the progress callback.
func (u *resumable) report(n int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sent += n
	if u.progress != nil {
		u.progress(u.sent, u.total)
	}
}

// part is a reader of [off, off+n) of the source that reports progress
// and honours the rate limit as it is read.
func (u *resumable) part(ctx context.Context, off, n int64) io.Reader {
	return &partReader{ctx: ctx, u: u, r: io.NewSectionReader(u.f, off, n)}
}

type partReader struct {
	ctx context.Context
	u   *resumable
	r   io.Reader
}

func (p *partReader) Read(b []byte) (int, error) {
	if p.u.limit != nil {
		if err := p.u.limit.wait(p.ctx, int64(len(b))); err != nil {
			return 0, err
		}
	}
	n, err := p.r.Read(b)
	if n > 0 {
		p.u.report(int64(n))
	}
	return n, err
}

// sequential writes the rest of the source from done, part after part.
// Each part is a MODIFY at its offset (= the current end), not an APPEND:
// APPEND is not idempotent, and a request of an interrupted run that the
// storage still processes after the resumption would add its part a second
// time. A late MODIFY only rewrites the same bytes; a late APPEND of an
// older run writes at the end, which this run overwrites as it goes on, and
// the final TRUNCATE cuts what lies beyond the source size.
func (u *resumable) sequential(ctx context.Context, done int64) error {
	if done > u.total {
		// More than the source holds (changed by someone else): cut back;
		// the CRC check at the end tells whether the rest is right.
		if err := u.c.TruncateFile(ctx, u.st.Appender, u.total); err != nil {
			return err
		}
		done = u.total
	}
	u.report(done)
	for done < u.total {
		n := min(u.st.PartSize, u.total-done)
		err := u.c.withConn(ctx, u.addr, func(cn *conn) error {
			return modifyOn(cn, u.remote, done, u.part(ctx, done, n), n)
		})
		if err != nil {
			return fmt.Errorf("write %d bytes at %d to %s: %w", n, done, u.st.Appender, err)
		}
		done += n
	}
	return u.c.TruncateFile(ctx, u.st.Appender, u.total)
}

// parallel writes the parts not yet recorded as done with workers
// connections, after setting the appender file to its full size.
func (u *resumable) parallel(ctx context.Context, size int64, workers int) error {
	s := u.st
	parts := int((u.total + s.PartSize - 1) / s.PartSize)
	if len(s.Done) != (parts+7)/8 {
		s.Done = make([]byte, (parts+7)/8)
	}
	if !s.Truncated || size != u.total {
		if err := u.c.TruncateFile(ctx, s.Appender, u.total); err != nil {
			return err
		}
		s.Truncated = true
		if err := saveState(u.statePath, s); err != nil {
			return err
		}
	}
	partLen := func(i int) int64 { return min(s.PartSize, u.total-int64(i)*s.PartSize) }
	var todo []int
	var already int64
	for i := range parts {
		if s.Done[i/8]&(1<<(i%8)) != 0 {
			already += partLen(i)
		} else {
			todo = append(todo, i)
		}
	}
	u.report(already)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for range min(workers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				off, n := int64(i)*s.PartSize, partLen(i)
				err := u.c.withConn(ctx, u.addr, func(cn *conn) error {
					return modifyOn(cn, u.remote, off, u.part(ctx, off, n), n)
				})
				if err == nil {
					u.mu.Lock()
					s.Done[i/8] |= 1 << (i % 8)
					err = saveState(u.statePath, s)
					u.mu.Unlock()
				}
				if err != nil {
					once.Do(func() {
						firstErr = fmt.Errorf("write part %d (%d bytes at %d) of %s: %w", i, n, off, s.Appender, err)
						cancel()
					})
					return
				}
			}
		}()
	}
feed:
	for _, i := range todo {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// finish checks the regenerated file against the source (size and CRC32
// carried in its name), removes the state file and returns the file ID.
// A mismatch deletes the bad file and the state, so the next run starts
// over.
func (u *resumable) finish(ctx context.Context) (string, error) {
	id := u.st.Final
	_, remote, err := fileid.Split(id)
	if err != nil {
		return "", err
	}
	info, _, err := fileid.Decode(remote)
	if err != nil {
		return "", err
	}
	h := crc32.NewIEEE()
	n, err := io.CopyBuffer(h, io.NewSectionReader(u.f, 0, u.total), make([]byte, copyBuf))
	if err != nil {
		return "", fmt.Errorf("read %s for the CRC32: %w", u.f.Name(), err)
	}
	if n != info.Size() || h.Sum32() != info.CRC32 {
		_ = u.c.Delete(ctx, id)
		_ = os.Remove(u.statePath)
		return "", proto.Errf(proto.StatusEIO, "stored file %s (size %d, CRC32 %08x) differs from the source (size %d, CRC32 %08x); deleted it",
			id, info.Size(), info.CRC32, n, h.Sum32())
	}
	if err := os.Remove(u.statePath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return id, nil
}

// lockState takes an exclusive lock on "<statePath>.lock" so that two runs
// for the same source cannot mix their states (EBUSY if one is running).
// A killed run loses its lock with its process.
func lockState(statePath string) (unlock func(), err error) {
	lp := statePath + ".lock"
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock upload state: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, proto.Errf(proto.StatusEBUSY, "another upload of this file is running (%s)", lp)
		}
		return nil, fmt.Errorf("lock upload state: %w", err)
	}
	return func() {
		// Removed while still locked: a run starting now locks a new file.
		os.Remove(lp)
		f.Close()
	}, nil
}

// loadState reads a state file; a missing or unreadable one is no state.
func loadState(path string) *resumeState {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var s resumeState
	if json.Unmarshal(b, &s) != nil || s.Appender == "" {
		return nil
	}
	return &s
}

// saveState replaces the state file atomically (temp file, fsync, rename).
func saveState(path string, s *resumeState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("save upload state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save upload state: %w", err)
	}
	return nil
}

// rateLimiter spreads sending over time: after n bytes, at least n/rate
// seconds have passed since start.
type rateLimiter struct {
	mu    sync.Mutex
	rate  int64
	start time.Time
	sent  int64
}

func (l *rateLimiter) wait(ctx context.Context, n int64) error {
	l.mu.Lock()
	l.sent += n
	due := l.start.Add(time.Duration(float64(l.sent) / float64(l.rate) * float64(time.Second)))
	l.mu.Unlock()
	d := time.Until(due)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
