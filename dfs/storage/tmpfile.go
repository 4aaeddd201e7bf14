package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"yunpan/dfs/proto"
)

// Uploads are written into an unnamed file (open(2) with O_TMPFILE) in the
// directory they end up in, and given their name with linkat(2) once their
// content, size and CRC32 are known. Against a named temp file in a
// directory of its own, linked into place and unlinked, that is one
// directory entry made instead of three changed, the file's directory lock
// taken only for the link (not while the filesystem allocates the inode),
// and a crash leaves nothing behind: an unnamed file goes with its last
// descriptor. Filesystems without O_TMPFILE, or a system without /proc
// (linkat names the descriptor through /proc/self/fd), keep the temp files
// (tmpfileWorks decides per store path at start-up).

// emptyPathLink is set once linkat(2) named an unnamed file by its
// descriptor (AT_EMPTY_PATH; it needs CAP_DAC_READ_SEARCH on older
// kernels). Otherwise the file is named through /proc/self/fd, whose
// lookup was a third of linkat's cost, itself a tenth of the storage's CPU
// for a 4 KiB upload.
var emptyPathLink atomic.Bool

// tmpfileWorks reports whether dir's filesystem can make an unnamed file
// and link it under a name, by doing it once (and whether AT_EMPTY_PATH
// names it).
func tmpfileWorks(dir string) bool {
	fd, err := unix.Open(dir, unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	probe := filepath.Join(dir, ".tmpfile-probe-"+strconv.Itoa(os.Getpid()))
	os.Remove(probe)
	if unix.Linkat(fd, "", unix.AT_FDCWD, probe, unix.AT_EMPTY_PATH) == nil {
		emptyPathLink.Store(true)
		os.Remove(probe)
		return true
	}
	if err := linkFD(fd, probe); err != nil {
		return false
	}
	os.Remove(probe)
	return true
}

// createUnnamed opens an unnamed file in dir, creating dir when it is gone
// (the HH/HH tree was damaged or the marker lied).
func createUnnamed(dir string) (*os.File, error) {
	for try := 0; ; try++ {
		fd, err := unix.Open(dir, unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, 0o644)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ENOENT && try == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open O_TMPFILE", Path: dir, Err: err}
		}
		return os.NewFile(uintptr(fd), fdPath(fd)), nil
	}
}

// fdPath names descriptor fd of this process.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// linkFD gives the unnamed file open as fd the name path; EEXIST when the
// name is taken (never replaced).
func linkFD(fd int, path string) error {
	for {
		var err error
		if emptyPathLink.Load() {
			err = unix.Linkat(fd, "", unix.AT_FDCWD, path, unix.AT_EMPTY_PATH)
		} else {
			err = unix.Linkat(unix.AT_FDCWD, fdPath(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
		}
		if err != unix.EINTR {
			return err
		}
	}
}

// publishFD names the unnamed file f in dir with the first name of gen
// that is free (the tries and the error as publish's).
func publishFD(f *os.File, dir string, gen func(try int) string) (string, error) {
	fd := int(f.Fd())
	for try := range maxNameTries {
		name := gen(try)
		err := linkFD(fd, filepath.Join(dir, name))
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("link %s: %w", name, err)
		}
	}
	return "", proto.Errf(proto.StatusEBUSY, "no unique file name after %d tries", maxNameTries)
}
