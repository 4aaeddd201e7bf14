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
)

// Binlog operation letters for operations that originate here (docs/protocol.md §5.2);
// replicas use the lower-case letter.
const (
	opCreate   byte = 'C'
	opDelete   byte = 'D'
	opUpdate   byte = 'U'
	opAppend   byte = 'A'
	opModify   byte = 'M'
	opTruncate byte = 'T'
	opLink     byte = 'L'
	opRename   byte = 'R'
)

// binlogMaxSize is where a new binlog.NNN starts (a variable for tests).
var binlogMaxSize int64 = 1 << 30

const (
	binlogCacheSize = 16 << 10 // what a failed write may keep for a retry
	binlogMaxRecord = 256      // one record is at most 256 bytes
	binlogIndexFile = "binlog_index.dat"
	binlogOldIndex  = "binlog.index"
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
}

// binlogName is the file name of binlog index n.
func binlogName(n int) string { return fmt.Sprintf("binlog.%03d", n) }

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

// Write queues one record. Errors writing the file are logged; the records
// stay cached and are retried on the next flush.
func (b *binlog) Write(ts int64, op byte, name, extra string) {
	line := make([]byte, 0, 64+len(name)+len(extra))
	line = strconv.AppendInt(line, ts, 10)
	line = append(line, ' ', op, ' ')
	line = append(line, name...)
	if extra != "" {
		line = append(line, ' ')
		line = append(line, extra...)
	}
	if len(line) >= binlogMaxRecord {
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
	if err := b.writeLocked(); err != nil {
		b.log.Error().Err(err).Msg("binlog write")
	}
	if b.interval <= 0 || b.size >= binlogMaxSize {
		if err := b.flushLocked(); err != nil {
			b.log.Error().Err(err).Msg("binlog flush")
		}
	}
}

// Flush writes the cached records and fsyncs the file.
func (b *binlog) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

// writeLocked hands the cached records to the file (no fsync). What a
// failed write leaves in the cache is retried by the next write or flush.
func (b *binlog) writeLocked() error {
	if len(b.buf) == 0 || b.f == nil {
		return nil
	}
	n, err := b.f.Write(b.buf)
	b.size += int64(n)
	b.buf = b.buf[:copy(b.buf, b.buf[n:])]
	if n > 0 {
		b.dirty = true
	}
	if err != nil {
		return fmt.Errorf("binlog write: %w", err)
	}
	return nil
}

// flushLocked writes what is cached and fsyncs the file.
func (b *binlog) flushLocked() error {
	if err := b.writeLocked(); err != nil {
		return err
	}
	if !b.dirty || b.f == nil {
		return nil
	}
	if err := b.f.Sync(); err != nil {
		return fmt.Errorf("binlog fsync: %w", err)
	}
	b.dirty = false
	if b.size >= binlogMaxSize {
		return b.rotateLocked()
	}
	return nil
}

// rotateLocked starts binlog.NNN+1 and records it in binlog_index.dat.
func (b *binlog) rotateLocked() error {
	if err := b.f.Close(); err != nil {
		b.log.Warn().Err(err).Msg("binlog close")
	}
	b.f = nil
	b.index++
	if err := b.writeIndex(); err != nil {
		b.index--
		b.open()
		return fmt.Errorf("binlog rotate: %w", err)
	}
	if err := b.open(); err != nil {
		return fmt.Errorf("binlog rotate: %w", err)
	}
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
	err := b.flushLocked()
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
