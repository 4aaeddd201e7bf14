package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	binlogfmt "yunpan/dfs/binlog"
)

// Binlog operation letters (binlogfmt's), short for the storage's code.
const (
	opCreate   = binlogfmt.OpCreate
	opDelete   = binlogfmt.OpDelete
	opUpdate   = binlogfmt.OpUpdate
	opAppend   = binlogfmt.OpAppend
	opModify   = binlogfmt.OpModify
	opTruncate = binlogfmt.OpTruncate
	opLink     = binlogfmt.OpLink
	opRename   = binlogfmt.OpRename
)

// binlogMaxSize is where a new binlog.NNN starts (a variable for tests).
var binlogMaxSize int64 = 1 << 30

const (
	binlogCacheSize = 16 << 10 // the write cache's usual capacity
	binlogIndexFile = "binlog_index.dat"
	binlogOldIndex  = "binlog.index"
)

// Failures. A rotation that cannot create the next file keeps writing the
// current one (binlogMaxSize only says when to rotate), so records stay
// durable and replication goes on; the rotation is retried. While the file
// cannot be written at all (a full or failing disk, a file removed or
// replaced), records wait in memory and the write is retried, opening the
// file again; they reach the file, and so the replicas, once it works
// again. Nothing is dropped, so the memory is bounded the other way: once
// binlogPendingMax bytes wait, commands that log records are refused with
// EIO (server.go) until the file takes them. Retries come binlogRetryMin
// apart at first, doubling up to binlogRetryMax; each failure is logged
// when it starts and when it ends, and /metrics shows it (metrics.go).
// Variables for tests.
var (
	binlogPendingMax = 16 << 20 // about 100 000 records
	binlogRetryMin   = 100 * time.Millisecond
	binlogRetryMax   = 10 * time.Second
)

// binlog appends records `<ts> <op> <logic_filename>[ <extra>]\n` to
// base_path/data/sync/binlog.NNN (docs/protocol.md §5.1). Records are cached and written
// when the cache is nearly full, every sync_binlog_buff_interval and on
// Close; every write to the file is followed by fsync.
type binlog struct {
	mu       sync.Mutex
	dir      string
	interval time.Duration
	log      zerolog.Logger
	index    int
	compress int
	f        *os.File
	size     int64 // bytes in the current file, written ones only
	buf      []byte
	dirty    bool // written since the last fsync
	closed   bool
	tombs    *tombstones // names deleted lately, kept current by Write (tombstone.go)

	writeFault  fault // opening, writing or fsyncing the file fails
	rotateFault fault // the next file cannot be started
	errors      int64 // failed attempts of either, ever
}

// fault is one kind of binlog failure (see binlogPendingMax): on from a
// failed attempt until one works, with no retry before at.
type fault struct {
	on      bool
	backoff time.Duration
	at      time.Time
}

// waiting reports whether a retry must wait.
func (f *fault) waiting() bool { return f.on && time.Now().Before(f.at) }

// binlogName is the file name of binlog index n.
func binlogName(n int) string { return binlogfmt.Name(n) }

func openBinlog(dir string, interval time.Duration, log zerolog.Logger) (*binlog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("binlog dir: %w", err)
	}
	b := &binlog{dir: dir, interval: interval, log: log, buf: make([]byte, 0, binlogCacheSize)}
	if err := b.readIndex(); err != nil {
		return nil, err
	}
	b.tombs = loadTombstones(dir, b.index, log)
	if err := b.open(); err != nil {
		return nil, err
	}
	return b, nil
}

// readIndex loads binlog_index.dat (`current_write=N`, `current_compress=M`),
// falling back to the older binlog.index holding just the number, and writes
// the index file when it is missing.
func (b *binlog) readIndex() error {
	data, err := os.ReadFile(filepath.Join(b.dir, binlogIndexFile))
	if err == nil {
		kv := parseKV(data)
		b.index, _ = strconv.Atoi(kv["current_write"])
		b.compress, _ = strconv.Atoi(kv["current_compress"])
		if b.index < 0 {
			b.index = 0
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("binlog index: %w", err)
	}
	if old, err := os.ReadFile(filepath.Join(b.dir, binlogOldIndex)); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(old))); err == nil && n >= 0 {
			b.index = n
		}
	}
	return b.writeIndex()
}

func (b *binlog) writeIndex() error {
	text := fmt.Sprintf("current_write=%d\ncurrent_compress=%d\n", b.index, b.compress)
	return writeFileAtomic(filepath.Join(b.dir, binlogIndexFile), []byte(text), true)
}

func (b *binlog) open() error {
	f, err := os.OpenFile(filepath.Join(b.dir, binlogName(b.index)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("binlog: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("binlog: %w", err)
	}
	b.f, b.size = f, fi.Size()
	return nil
}

// Write queues one record. When the file cannot be written the record
// waits in memory with the others (binlogPendingMax) and the write is
// retried by the next Write or Flush; the failure is logged once, when it
// starts, and again when it ends.
func (b *binlog) Write(ts int64, op byte, name, extra string) {
	line := make([]byte, 0, 64+len(name)+len(extra))
	line = strconv.AppendInt(line, ts, 10)
	line = append(line, ' ', op, ' ')
	line = append(line, name...)
	if extra != "" {
		line = append(line, ' ')
		line = append(line, extra...)
	}
	if len(line) >= binlogfmt.MaxRecord {
		// Cannot happen with validated names (< 128 bytes); never write a
		// record a reader would reject.
		b.log.Error().Str("record", string(line)).Msg("binlog record too long, dropped")
		return
	}
	line = append(line, '\n')
	b.tombs.note(ts, op, name, extra)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		b.log.Error().Str("record", string(line)).Msg("binlog closed, record dropped")
		return
	}
	b.buf = append(b.buf, line...)
	// Written through at once: a record only in memory is lost when the
	// process is killed, and with it the replication of an acknowledged
	// upload or delete (the soak test caught this). The fsync waits for the
	// interval; a record in the page cache survives a crashed process, only
	// a crashed machine can lose the last interval.
	//
	// Errors are reported by failLocked. The first write after a failure
	// is flushed at once, which ends the failure (okLocked).
	recovering := b.writeFault.on
	if b.writeLocked() != nil {
		return
	}
	if recovering || b.interval <= 0 || b.size >= binlogMaxSize && !b.rotateFault.waiting() {
		b.flushLocked()
	}
}

// full reports whether so many records wait for a binlog file that cannot
// be written that commands logging more must be refused.
func (b *binlog) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writeFault.on && len(b.buf) >= binlogPendingMax
}

// health is what /metrics shows of the file: whether writing or rotating
// it fails, the bytes of records waiting in memory, and the failed
// attempts so far.
func (b *binlog) health() (failing bool, pending, errs int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writeFault.on || b.rotateFault.on, int64(len(b.buf)), b.errors
}

// errRetryLater is a write skipped while waiting to retry a failed one.
var errRetryLater = errors.New("binlog not writable, retry pending")

// failLocked records a failed attempt of kind f: logged (with what it
// means) when the failure starts, then retried after a back-off that
// doubles up to binlogRetryMax.
func (b *binlog) failLocked(f *fault, err error, means string) error {
	b.errors++
	if !f.on {
		f.on = true
		f.backoff = binlogRetryMin
		b.log.Error().Err(err).Int("index", b.index).Int("pending_bytes", len(b.buf)).Msg(means)
	} else {
		f.backoff = min(2*f.backoff, binlogRetryMax)
	}
	f.at = time.Now().Add(f.backoff)
	return err
}

// okLocked ends a failure of kind f after an attempt that worked.
func (b *binlog) okLocked(f *fault, msg string) {
	if f.on {
		f.on = false
		b.log.Warn().Int("index", b.index).Int64("failed_attempts", b.errors).Msg(msg)
	}
}

const (
	writeFailed  = "binlog cannot be written: records wait in memory, replication of new changes stops until it works again"
	writeOK      = "binlog writable again, waiting records written"
	rotateFailed = "binlog cannot start its next file: records go on to the current one"
	rotateOK     = "binlog rotation works again"
)

// Flush writes the cached records and fsyncs the file. Its error is
// already logged (once per failure, failLocked).
func (b *binlog) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	return b.flushLocked()
}

// writeLocked hands the cached records to the file (no fsync), opening it
// first when a rotation or an earlier failure left it closed. What a failed
// write leaves in the cache is retried by the next write or flush, after
// the back-off.
func (b *binlog) writeLocked() error {
	if b.writeFault.waiting() {
		return errRetryLater
	}
	if b.f == nil {
		if err := b.open(); err != nil {
			return b.failLocked(&b.writeFault, err, writeFailed)
		}
	}
	if len(b.buf) == 0 {
		return nil
	}
	n, err := b.f.Write(b.buf)
	b.size += int64(n)
	b.buf = b.buf[:copy(b.buf, b.buf[n:])]
	if n > 0 {
		b.dirty = true
	}
	if err != nil {
		// The descriptor may be what broke (a file removed or replaced,
		// a failed device): the retry opens the file again.
		b.f.Close()
		b.f, b.dirty = nil, false
		return b.failLocked(&b.writeFault, fmt.Errorf("binlog write: %w", err), writeFailed)
	}
	return nil
}

// flushLocked writes what is cached and fsyncs the file.
func (b *binlog) flushLocked() error {
	if err := b.writeLocked(); err != nil {
		return err
	}
	if b.dirty {
		if err := b.f.Sync(); err != nil {
			return b.failLocked(&b.writeFault, fmt.Errorf("binlog fsync: %w", err), writeFailed)
		}
		b.dirty = false
	}
	b.okLocked(&b.writeFault, writeOK)
	if len(b.buf) == 0 && cap(b.buf) > 4*binlogCacheSize {
		b.buf = make([]byte, 0, binlogCacheSize) // what waiting records took
	}
	if b.size >= binlogMaxSize && !b.rotateFault.waiting() {
		return b.rotateLocked()
	}
	return nil
}

// rotateLocked starts binlog.NNN+1 and records it in binlog_index.dat,
// after an fsync of the current file. The next file is opened before the
// current one is let go: when it cannot be made, or the index not saved,
// records go on to the current file and the rotation is retried.
func (b *binlog) rotateLocked() error {
	next, err := os.OpenFile(filepath.Join(b.dir, binlogName(b.index+1)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return b.failLocked(&b.rotateFault, fmt.Errorf("binlog rotate: %w", err), rotateFailed)
	}
	fi, err := next.Stat()
	if err == nil {
		b.index++
		if err = b.writeIndex(); err != nil {
			b.index--
		}
	}
	if err != nil {
		next.Close() // an empty binlog.NNN+1 left behind is used by the next try
		return b.failLocked(&b.rotateFault, fmt.Errorf("binlog rotate: %w", err), rotateFailed)
	}
	if err := b.f.Close(); err != nil {
		b.log.Warn().Err(err).Msg("binlog close")
	}
	b.f, b.size = next, fi.Size()
	b.okLocked(&b.rotateFault, rotateOK)
	b.log.Info().Int("index", b.index).Msg("binlog rotated")
	return nil
}

// Close flushes and closes the binlog.
func (b *binlog) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.writeFault.at = time.Time{} // a last attempt, whatever the back-off
	err := b.flushLocked()
	if len(b.buf) > 0 {
		b.log.Error().Err(err).Int("pending_bytes", len(b.buf)).
			Msg("binlog closed with records it could not write: their changes will not replicate")
	}
	b.closed = true
	if b.f != nil {
		if cerr := b.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// parseKV reads `key=value` lines (trimmed, first '=' splits).
func parseKV(data []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}
