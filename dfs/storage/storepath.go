package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"yunpan/dfs/proto"
)

// storePath is one store_pathN.
type storePath struct {
	index    int
	root     string // store_pathN
	dataDir  string // store_pathN/data
	readonly bool   // store_pathN_readonly

	badUntil atomic.Int64 // unix nanos until which uploads avoid this path (hardening.go)
	unnamed  bool         // uploads are written into unnamed files (tmpfile.go)
	copySend bool         // downloads are sent by copy, not sendfile (a tmpfs; server.go sendCopy)

	usageMu sync.Mutex // guards the fields below (usage)
	usageAt time.Time  // when statfs was last read; zero: never
	totalMB int64
	freeB   int64 // free bytes then, less what uploads were let through since
}

// usageTTL is how long a store path's statfs answer is reused by uploads:
// each upload counts its size against it meanwhile, so the free space an
// upload sees is never more than the disk has, and a full disk is noticed
// without one statfs per upload.
const usageTTL = 100 * time.Millisecond

// usage returns the path's total and free MB as of at most usageTTL ago,
// less what uploads took since.
func (sp *storePath) usage() (totalMB, freeMB int64, err error) {
	sp.usageMu.Lock()
	defer sp.usageMu.Unlock()
	if now := time.Now(); sp.usageAt.IsZero() || now.Sub(sp.usageAt) >= usageTTL {
		total, free, err := diskBytes(sp.dataDir)
		if err != nil {
			sp.usageAt = time.Time{}
			return 0, 0, err
		}
		sp.usageAt, sp.totalMB, sp.freeB = now, total>>20, free
	}
	return sp.totalMB, sp.freeB >> 20, nil
}

// take counts n bytes an upload was let through as used until statfs is
// read again.
func (sp *storePath) take(n int64) {
	sp.usageMu.Lock()
	sp.freeB -= n
	sp.usageMu.Unlock()
}

// tempSlots is how many directories incoming uploads are spread over. File
// creation holds the directory lock while the filesystem allocates the inode
// (about 0.6 ms on the ext4 here), so temp files of concurrent uploads go to
// different directories and only the cheap link into HH/HH shares one.
const tempSlots = 16

// tempDir is where uploads of session slot n are written before they are
// linked under their final name.
func (sp *storePath) tempDir(n uint64) string {
	return filepath.Join(sp.dataDir, ".tmp", hex2(int(n%tempSlots)))
}

// resetTemp empties data/.tmp (what a crash left of unfinished uploads: never
// acknowledged, so never visible) and creates the slot directories.
func (sp *storePath) resetTemp() error {
	root := filepath.Join(sp.dataDir, ".tmp")
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("clear temp dir: %w", err)
	}
	for n := range uint64(tempSlots) {
		if err := os.MkdirAll(sp.tempDir(n), 0o755); err != nil {
			return fmt.Errorf("create temp dir: %w", err)
		}
	}
	return nil
}

// subdirMarker records in store_pathN/data that all HH/HH directories exist,
// so later starts skip the 65536 mkdir calls.
const subdirMarker = ".subdirs_done"

const hexDigits = "0123456789ABCDEF"

func hex2(v int) string { return string([]byte{hexDigits[v>>4&0xF], hexDigits[v&0xF]}) }

// makeSubdirs creates dataDir/HH/HH for HH in 00..count-1 (docs/protocol.md §6.5, §6.12)
// unless the marker says a previous start already did. The work is spread
// over a few goroutines; existing directories are fine.
func makeSubdirs(dataDir string, count int) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	marker := filepath.Join(dataDir, subdirMarker)
	if b, err := os.ReadFile(marker); err == nil {
		if n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(string(b)), "subdir_count_per_path=")); err == nil && n >= count {
			return nil
		}
	}
	// Parents differ between workers, so their mkdirs do not contend on
	// one directory lock; mkdirat saves the path walk.
	const workers = 8
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for hi := w; hi < count; hi += workers {
				if errs[w] = mkdirRow(dataDir+"/"+hex2(hi), count); errs[w] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("create sub directories: %w", err)
	}
	return writeFileAtomic(marker, []byte("subdir_count_per_path="+strconv.Itoa(count)+"\n"), false)
}

// mkdirRow creates dir and dir/00 … dir/<count-1>.
func mkdirRow(dir string, count int) error {
	if err := syscall.Mkdir(dir, 0o755); err != nil && err != syscall.EEXIST {
		return &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd)
	for lo := range count {
		if err := syscall.Mkdirat(fd, hex2(lo), 0o755); err != nil && err != syscall.EEXIST {
			return &os.PathError{Op: "mkdir", Path: dir + "/" + hex2(lo), Err: err}
		}
	}
	return nil
}

// diskUsage is statvfs of a path in MB: total = blocks×frsize, free =
// bavail×frsize (docs/protocol.md §4.4).
func diskUsage(path string) (totalMB, freeMB int64, err error) {
	total, free, err := diskBytes(path)
	return total >> 20, free >> 20, err
}

// diskBytes is statvfs of a path in bytes.
func diskBytes(path string) (total, free int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	fr := uint64(st.Frsize)
	if fr == 0 {
		fr = uint64(st.Bsize)
	}
	return int64(st.Blocks * fr), int64(st.Bavail * fr), nil
}

// spaceOK is the storage-side reserved-space test at upload (docs/protocol.md §7.4):
// (free − file MB) must exceed the per-path reserve (reserved_mb divided by
// the path count) or, for a percentage, (free − file MB)/total > ratio.
// A path whose usage cannot be read is let through; the write will tell.
func (s *Storage) spaceOK(sp *storePath, size int64) bool {
	if !sp.writable() { // a file could not be created there lately (hardening.go)
		return false
	}
	total, free, err := sp.usage()
	if err != nil {
		return true
	}
	left := free - size/(1<<20)
	r := s.curParams().reserved
	ok := left > r.MB/int64(len(s.paths))
	if r.Ratio > 0 {
		ok = total > 0 && float64(left)/float64(total) > r.Ratio
	}
	if ok {
		sp.take(size)
	}
	return ok
}

// choosePath picks the store path for an upload of size bytes (docs/protocol.md §7.3):
// the tracker's index is honoured unless that path is read-only; −1 (or a
// read-only path) lets the storage choose: the path with most free space in
// load-balance mode (store_path=2), else its own round robin, skipping
// read-only and full paths.
func (s *Storage) choosePath(idx int8, size int64) (*storePath, error) {
	n := len(s.paths)
	if idx != -1 && (idx < 0 || int(idx) >= n) {
		return nil, proto.Errf(proto.StatusEINVAL, "store path index %d not in [0,%d)", idx, n)
	}
	if idx >= 0 && !s.paths[idx].readonly {
		sp := s.paths[idx]
		if s.spaceOK(sp, size) {
			return sp, nil
		}
		// The tracker's view of free space is up to a report old: rather
		// than fail, let the storage choose another path (hardening.go).
		return s.choosePath(-1, size)
	}
	if s.curParams().storePathMode == 2 {
		var best *storePath
		var bestFree int64 = -1
		for _, sp := range s.paths {
			if sp.readonly || !s.spaceOK(sp, size) {
				continue
			}
			if _, free, err := diskUsage(sp.dataDir); err == nil && free > bestFree {
				best, bestFree = sp, free
			}
		}
		if best == nil {
			return nil, proto.Errf(proto.StatusENOSPC, "no writable store path with free space")
		}
		return best, nil
	}
	start := int(s.pathRR.Add(1)-1) % n
	for i := range n {
		sp := s.paths[(start+i)%n]
		if !sp.readonly && s.spaceOK(sp, size) {
			return sp, nil
		}
	}
	return nil, proto.Errf(proto.StatusENOSPC, "no writable store path with free space")
}

// onTmpfs reports whether dir is on a tmpfs.
func onTmpfs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.TMPFS_MAGIC
}
