package storage

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// trunkFDs keeps trunk files open. A small trunk upload would otherwise
// open its trunk file three times (the trunk server's header check, the
// writer's, the write) and a download once: the opens and closes cost the
// storage more than the preads and pwrites themselves. Slots are read and
// written with pread and pwrite, so users share a descriptor.
//
// A descriptor is checked against its path at most once a second: a trunk
// file removed or replaced behind the storage's back is opened afresh, not
// written through a descriptor of a file no name leads to. At most
// trunkFDMax stay open; one evicted while in use is closed by its last user.
type trunkFDs struct {
	mu     sync.Mutex
	m      map[string]*trunkFD
	closed bool
}

const trunkFDMax = 64

var trunkFDRecheck = time.Second // a variable for the tests

// trunkFD is one open trunk file.
type trunkFD struct {
	fd       int
	path     string
	ino, dev uint64
	checked  time.Time // when the path last led to this file
	used     time.Time // last handed out (the least recently used is evicted)
	refs     int
	gone     bool // not (or no longer) in the map: closed when refs drops to 0
}

// get returns the open trunk file at path, read-write; with create, the
// file (and its directory) is made when missing. A missing file is
// fs.ErrNotExist. The caller gives it back with put.
func (c *trunkFDs) get(path string, create bool) (*trunkFD, error) {
	now := time.Now()
	c.mu.Lock()
	if t := c.m[path]; t != nil {
		fresh := now.Sub(t.checked) < trunkFDRecheck
		if fresh || sameFile(path, t) {
			if !fresh {
				t.checked = now
			}
			t.used = now
			t.refs++
			c.mu.Unlock()
			return t, nil
		}
		c.dropLocked(t)
	}
	c.mu.Unlock()

	t, err := openTrunkFD(path, create)
	if err != nil {
		return nil, err
	}
	t.checked, t.used, t.refs = now, now, 1
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || t.gone {
		t.gone = true // used once, closed by put
		return t, nil
	}
	if old := c.m[path]; old != nil {
		c.dropLocked(old) // opened meanwhile by another user: ours is as good
	}
	if len(c.m) >= trunkFDMax {
		var oldest *trunkFD
		for _, x := range c.m {
			if oldest == nil || x.used.Before(oldest.used) {
				oldest = x
			}
		}
		c.dropLocked(oldest)
	}
	if c.m == nil {
		c.m = map[string]*trunkFD{}
	}
	c.m[path] = t
	return t, nil
}

// put gives back a descriptor get returned.
func (c *trunkFDs) put(t *trunkFD) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t.refs--
	if t.refs == 0 && t.gone {
		unix.Close(t.fd)
	}
}

// close closes every descriptor not in use; those in use close when put.
func (c *trunkFDs) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, t := range c.m {
		c.dropLocked(t)
	}
}

func (c *trunkFDs) dropLocked(t *trunkFD) {
	delete(c.m, t.path)
	t.gone = true
	if t.refs == 0 {
		unix.Close(t.fd)
	}
}

// dupFile is a descriptor of t's file of its own, for a caller that closes
// what it is given.
func (t *trunkFD) dupFile() (*os.File, error) {
	fd, err := unix.FcntlInt(uintptr(t.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "dup", Path: t.path, Err: err}
	}
	return os.NewFile(uintptr(fd), t.path), nil
}

// sameFile reports whether path still leads to t's file.
func sameFile(path string, t *trunkFD) bool {
	var st unix.Stat_t
	return unix.Stat(path, &st) == nil && st.Ino == t.ino && uint64(st.Dev) == t.dev
}

func openTrunkFD(path string, create bool) (*trunkFD, error) {
	flags := unix.O_RDWR | unix.O_CLOEXEC
	if create {
		flags |= unix.O_CREAT
	}
	fd, err := unix.Open(path, flags, 0o644)
	readOnly := false
	if (err == unix.EROFS || err == unix.EACCES) && !create {
		// Readable still (a store path mounted read-only): read through a
		// descriptor of its own.
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		readOnly = true
	}
	if err == unix.ENOENT && create {
		if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			fd, err = unix.Open(path, flags, 0o644)
		}
	}
	if err != nil {
		if err == unix.ENOENT || err == unix.ENOTDIR {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	return &trunkFD{fd: fd, path: path, ino: st.Ino, dev: uint64(st.Dev), gone: readOnly}, nil
}
