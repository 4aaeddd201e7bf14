package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	binlogfmt "yunpan/dfs/binlog"
)

// binlogRecord is one parsed binlog line.
type binlogRecord = binlogfmt.Record

// binlogReader reads records from base_path/data/sync/binlog.NNN starting at
// a mark position. It never blocks: at the current end it reports no binlogRecord,
// and the caller polls again. Records are consumed only by advance, so a
// record whose push failed is read again.
type binlogReader struct {
	dir     string
	index   int
	offset  int64 // of buf[0]
	f       *os.File
	fIndex  int
	buf     []byte
	current func() int // index being written now
}

// readChunk is how much binlog is read at once.
const readChunk = 64 << 10

func newBinlogReader(dir string, index int, offset int64, current func() int) *binlogReader {
	return &binlogReader{dir: dir, index: index, offset: offset, current: current, fIndex: -1}
}

func (br *binlogReader) close() {
	if br.f != nil {
		br.f.Close()
		br.f = nil
	}
}

// next returns the next complete record and its length in bytes (for
// advance). ok is false at the current end of the binlog. A malformed line
// is returned as an error with its length, so it can be skipped.
func (br *binlogReader) next() (rec binlogRecord, n int, ok bool, err error) {
	for {
		if i := bytes.IndexByte(br.buf, '\n'); i >= 0 {
			line := string(br.buf[:i])
			rec, err = binlogfmt.Parse(line)
			return rec, i + 1, true, err
		}
		if len(br.buf) >= binlogfmt.MaxRecord*2 {
			// No newline in far more than a record: the file is damaged
			// here; hand the junk back as one bad record.
			return binlogRecord{}, len(br.buf), true, fmt.Errorf("binlog.%03d offset %d: no record end", br.index, br.offset)
		}
		got, err := br.fill()
		if err != nil {
			return binlogRecord{}, 0, false, err
		}
		if got {
			continue
		}
		// At the end of this file: move on once a newer file exists and
		// nothing (not even half a record) is left here.
		if br.index < br.current() {
			if len(br.buf) > 0 {
				return binlogRecord{}, len(br.buf), true, fmt.Errorf("binlog.%03d ends with a partial record", br.index)
			}
			br.index++
			br.offset = 0
			br.close()
			continue
		}
		return binlogRecord{}, 0, false, nil
	}
}

// fill appends what follows buf in the file; false when nothing does.
func (br *binlogReader) fill() (bool, error) {
	if br.f == nil || br.fIndex != br.index {
		br.close()
		f, err := os.Open(filepath.Join(br.dir, binlogfmt.Name(br.index)))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // not created yet
		}
		if err != nil {
			return false, fmt.Errorf("open binlog: %w", err)
		}
		br.f, br.fIndex = f, br.index
	}
	chunk := make([]byte, readChunk)
	k, err := br.f.ReadAt(chunk, br.offset+int64(len(br.buf)))
	if k > 0 {
		br.buf = append(br.buf, chunk[:k]...)
		return true, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		br.close() // opened again next time: what stood there may be replaced
		return false, fmt.Errorf("read binlog.%03d: %w", br.index, err)
	}
	return false, nil
}

// advance consumes n bytes (one record).
func (br *binlogReader) advance(n int) {
	br.buf = br.buf[n:]
	br.offset += int64(n)
	if len(br.buf) == 0 {
		br.buf = nil
	}
}

// pos is the position of the next unread record.
func (br *binlogReader) pos() (int, int64) { return br.index, br.offset }

// currentIndex is the binlog file being written now.
func (b *binlog) currentIndex() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.index
}

// pending reports whether records wait in the write cache.
func (b *binlog) pending() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf) > 0
}
