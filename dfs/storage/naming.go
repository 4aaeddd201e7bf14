package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// distributor is the round-robin HH/HH choice of file_distribute_path_mode 0
// (docs/protocol.md §6.5). Its counters persist in storage_stat.dat.
type distributor struct {
	mu        sync.Mutex
	subdirs   int
	rotate    int
	high, low int
	count     int
}

// next returns the current (high, low) and advances the counters.
func (d *distributor) next() (high, low int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.high >= d.subdirs || d.high < 0 {
		d.high = 0
	}
	if d.low >= d.subdirs || d.low < 0 {
		d.low = 0
	}
	high, low = d.high, d.low
	d.count++
	if d.count >= d.rotate {
		d.count = 0
		d.low++
		if d.low >= d.subdirs {
			d.low = 0
			d.high++
			if d.high >= d.subdirs {
				d.high = 0
			}
		}
	}
	return high, low
}

func (d *distributor) snapshot() (high, low, count int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.high, d.low, d.count
}

// subdirFor picks HH/HH for a new file. Mode 1 hashes the provisional name
// (own address, start time, size, random CRC) with PJW.
func (s *Storage) subdirFor(src fileid.Info, size int64, appender bool) (high, low int) {
	if s.opts.FileDistributePathMode == 1 {
		prov := src
		prov.SizeField = fileid.SizeField(size, appender, rand.Uint32())
		prov.CRC32 = rand.Uint32()
		return fileid.DistributeRandom(fileid.EncodeBlock(prov), s.subdirs)
	}
	return s.dist.next()
}

// maxNameTries is how many names are generated before giving up (§6.6).
const maxNameTries = 10

// publish gives the finished temp file tmp its final name in dir, trying up
// to 10 generated names (gen is called with the attempt number and returns
// the last path element). The new name never replaces an existing file:
// rename with RENAME_NOREPLACE fails with EEXIST (one system call; a hard
// link and an unlink where the filesystem lacks it). It returns the chosen
// name.
func publish(tmp, dir string, gen func(try int) string) (string, error) {
	for try := range maxNameTries {
		name := gen(try)
		final := filepath.Join(dir, name)
		err := renameNoReplace(tmp, final)
		if err == nil {
			return name, nil
		}
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return "", fmt.Errorf("publish %s: %w", name, err)
	}
	return "", proto.Errf(proto.StatusEBUSY, "no unique file name after %d tries", maxNameTries)
}

// noReplaceUnsupported is set once a filesystem refused RENAME_NOREPLACE,
// so that later uploads go straight to the link path.
var noReplaceUnsupported atomic.Bool

// renameNoReplace renames tmp to final unless final exists (os.ErrExist).
func renameNoReplace(tmp, final string) error {
	if !noReplaceUnsupported.Load() {
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, final, unix.RENAME_NOREPLACE)
		switch err {
		case nil:
			return nil
		case unix.EEXIST:
			return os.ErrExist
		case unix.EINVAL, unix.ENOSYS, unix.EOPNOTSUPP:
			noReplaceUnsupported.Store(true)
		default:
			return &os.LinkError{Op: "rename", Old: tmp, New: final, Err: err}
		}
	}
	err := os.Link(tmp, final)
	if err == nil {
		if err := os.Remove(tmp); err != nil {
			return fmt.Errorf("remove temp file: %w", err)
		}
		return nil
	}
	if errors.Is(err, os.ErrExist) {
		return err
	}
	// Filesystems without hard links: check, then rename.
	if _, serr := os.Lstat(final); serr == nil {
		return os.ErrExist
	}
	return os.Rename(tmp, final)
}

// createTemp creates a new hidden temp file in dir (mode 0644, O_EXCL).
//
// The file is opened with open(2) and wrapped with os.NewFile: os.OpenFile
// would try to register a regular file with the network poller and switch
// its blocking mode back and forth, five system calls an upload does not
// need.
func createTemp(dir, kind string) (*os.File, error) {
	for range 100 {
		p := filepath.Join(dir, "."+kind+"-"+strconv.FormatUint(rand.Uint64(), 36)+".tmp")
		fd, err := syscall.Open(p, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o644)
		if err == syscall.EINTR || err == syscall.EEXIST {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: p, Err: err}
		}
		return os.NewFile(uintptr(fd), p), nil
	}
	return nil, fmt.Errorf("create temp file in %s: too many collisions", dir)
}

// syncDir fsyncs a directory so a rename or unlink in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// writeFileAtomic replaces path with data through a temp file and rename,
// optionally fsyncing the file and the directory.
func writeFileAtomic(path string, data []byte, fsync bool) error {
	dir := filepath.Dir(path)
	f, err := createTemp(dir, "w")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil && fsync {
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
		return fmt.Errorf("write %s: %w", path, err)
	}
	if fsync {
		return syncDir(dir)
	}
	return nil
}
