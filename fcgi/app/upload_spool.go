package app

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	"yunpan/fcgi/config"
)

// spooler takes a body part while hashing it. In inprocess mode a small
// part stays in memory (it goes to the storage as a buffer); anything else
// goes to a private temp file, never named after the client's file name.
type spooler struct {
	f      *os.File
	mem    bytes.Buffer
	memMax int64 // bytes kept in memory before spilling to a file
	dir    string
	h      hash.Hash
	n      int64
	max    int64
	ext    string // the temp file's extension: the one the file name known so far gives
}

// spoolMem is the largest body an inprocess upload keeps in memory.
const spoolMem = 1 << 20

// spoolSlots spreads temp files over sub-directories: creating a file holds
// its directory's lock while the filesystem allocates the inode (~0.6 ms on
// the ext4 here), which serialised concurrent uploads in one directory.
const spoolSlots = 16

// newSpool starts a spool for a file whose user-visible name is, as far as
// is known yet, name: its temp file (exec mode) carries that name's
// extension, as the upload tool wants it, so that it needs no renaming
// unless the name changes (each rename was a tenth of the program's CPU
// for a 4 KiB upload in exec mode).
func (a *App) newSpool(name string) (*spooler, error) {
	// The slot directories are made once; a stat per upload was a tenth
	// of the spool's cost.
	slot := a.spools.Add(1) % spoolSlots
	if !a.spoolDirs[slot].Load() {
		dir := filepath.Join(a.tmpDir, fmt.Sprintf("%02d", slot))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %w", errSpool, err)
		}
		a.spoolDirs[slot].Store(true)
	}
	dir := filepath.Join(a.tmpDir, fmt.Sprintf("%02d", slot))
	sp := &spooler{dir: dir, h: md5.New(), max: a.cfg.MaxUploadBytes, ext: fileExt(canonicalName(name))}
	if a.cfg.UploadMode == config.UploadInProcess {
		sp.memMax = spoolMem
	}
	return sp, nil
}

// copyBufs are io.Copy's buffers for spooling: a part is neither a
// WriterTo nor the spooler a ReaderFrom, so io.Copy would allocate (and
// zero) 32 KiB for every upload.
var copyBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// copyPart copies src to dst with a pooled buffer.
func copyPart(dst io.Writer, src io.Reader) (int64, error) {
	buf := copyBufs.Get().(*[32 << 10]byte)
	defer copyBufs.Put(buf)
	return io.CopyBuffer(dst, src, buf[:])
}

// fullReader fills the caller's buffer before returning. A multipart part
// hands out at most 4 KiB per Read; copied to the storage as is, every 4 KiB
// became a write system call of its own (a quarter of the upload program's
// time for 1 MiB files).
type fullReader struct{ r io.Reader }

func (f fullReader) Read(p []byte) (int, error) {
	n, err := io.ReadFull(f.r, p)
	if err == io.ErrUnexpectedEOF {
		err = nil // a short last piece; the next Read says EOF
	}
	return n, err
}

// hint sizes the memory buffer for a body of about n bytes (the claimed
// size, else the request's length), so that it is not regrown on the way.
func (s *spooler) hint(claimed, contentLength int64) {
	n := claimed
	if n < 0 {
		n = contentLength
	}
	if n > 0 && n <= s.memMax {
		s.mem.Grow(int(n))
	}
}

func (s *spooler) Write(p []byte) (int, error) {
	if s.n+int64(len(p)) > s.max {
		return 0, fmt.Errorf("%w: files are limited to %d bytes", errTooLarge, s.max)
	}
	if s.f == nil && s.n+int64(len(p)) <= s.memMax {
		s.mem.Write(p)
		s.h.Write(p)
		s.n += int64(len(p))
		return len(p), nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "up-*"+dotExt(s.ext))
		if err != nil {
			return 0, fmt.Errorf("%w: %w", errSpool, err)
		}
		s.f = f
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			return 0, fmt.Errorf("%w: %w", errSpool, err)
		}
		s.mem = bytes.Buffer{}
	}
	n, err := s.f.Write(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("%w: %w", errSpool, err)
	}
	return n, nil
}

// done closes the file (if any) and fills up.
func (s *spooler) done(up *upload) error {
	up.size = s.n
	up.md5 = hex.EncodeToString(s.h.Sum(nil))
	if s.f == nil && s.memMax > 0 {
		up.data = s.mem.Bytes()
		return nil
	}
	if s.f == nil { // an empty part in exec mode: the tool still needs a file
		f, err := os.CreateTemp(s.dir, "up-*"+dotExt(s.ext))
		if err != nil {
			return fmt.Errorf("%w: %w", errSpool, err)
		}
		s.f = f
	}
	up.path, up.pathExt = s.f.Name(), s.ext
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("%w: %w", errSpool, err)
	}
	return nil
}

// dotExt is "."+ext, or "" for no extension.
func dotExt(ext string) string {
	if ext == "" {
		return ""
	}
	return "." + ext
}
