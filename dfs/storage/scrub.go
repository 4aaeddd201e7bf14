package storage

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"yunpan/dfs/proto"
)

// The scrubber finds files damaged on disk before a client asks for them:
// every scrub_period it reads each normal file of every store path, paced so
// that the reads spread over the period, and compares its CRC32 with the one
// in its name. A damaged file (found so, or by a download, download.go) is
// replaced by a copy fetched from another storage of the group whose size
// and CRC32 match its name, renamed over it in one step. When no storage
// has a good copy the damaged file is moved to <store path>/quarantine, so
// that nothing (Nginx reads the disk directly) serves it any more; Nginx
// then asks the storage's HTTP endpoint, which fetches from the group.

// scrubHealQueue bounds the files a download found damaged that wait for
// healing; more are left to the next scrub pass.
const scrubHealQueue = 64

// scrubber is the storage's background checker.
type scrubber struct {
	s      *Storage
	period time.Duration // 0: no periodic pass, only heals
	heal   chan string   // remote filenames a download found damaged

	checked atomic.Int64 // files read and checked
	damaged atomic.Int64 // found damaged by a pass or a download
	healed  atomic.Int64 // replaced by a good copy from the group
}

func newScrubber(s *Storage, period time.Duration) *scrubber {
	return &scrubber{s: s, period: period, heal: make(chan string, scrubHealQueue)}
}

// report queues remote for healing; a full queue drops it (the next pass
// finds it again).
func (sc *scrubber) report(remote string) {
	select {
	case sc.heal <- remote:
	default:
	}
}

// run is the scrubber's goroutine: passes every period, heals in between.
func (sc *scrubber) run() {
	for {
		next := time.Time{}
		if sc.period > 0 {
			start := time.Now()
			if !sc.pass() {
				return
			}
			next = start.Add(sc.period)
		}
		if !sc.waitUntil(next) {
			return
		}
	}
}

// waitUntil serves heal requests until t (forever when t is zero); false
// on exit.
func (sc *scrubber) waitUntil(t time.Time) bool {
	var timer <-chan time.Time
	if !t.IsZero() {
		tm := time.NewTimer(time.Until(t))
		defer tm.Stop()
		timer = tm.C
	}
	for {
		select {
		case <-sc.s.exitCh:
			return false
		case <-timer:
			return true
		case remote := <-sc.heal:
			sc.healReported(remote)
		}
	}
}

// scrubFile is one candidate of a pass.
type scrubFile struct {
	remote, path string
	size         int64
	trunk        *trunkRef // a trunk-resident file: path is its trunk file
}

// walk calls fn for every normal file of every store path (whose name
// records its CRC32), the temp dirs skipped; fn returning false stops it.
func (sc *scrubber) walk(fn func(f scrubFile) bool) {
	for _, sp := range sc.s.paths {
		prefix := "M" + hex2(sp.index) + "/"
		stop := errors.New("stop")
		err := filepath.WalkDir(sp.dataDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // vanished or unreadable: the next pass retries
			}
			if d.IsDir() {
				if strings.HasPrefix(d.Name(), ".") && p != sp.dataDir {
					return filepath.SkipDir // .tmp
				}
				return nil
			}
			rel, _ := filepath.Rel(sp.dataDir, p)
			remote := prefix + filepath.ToSlash(rel)
			if !d.Type().IsRegular() || strings.Count(remote, "/") != 3 {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			if _, ok := nameCRC(remote, fi.Size()); !ok {
				return nil
			}
			if !fn(scrubFile{remote: remote, path: p, size: fi.Size()}) {
				return stop
			}
			return nil
		})
		if err == stop {
			return
		}
	}
	sc.walkTrunk(fn)
}

// pass reads every file once, paced over the period; false on exit.
func (sc *scrubber) pass() bool {
	var total int64
	sc.walk(func(f scrubFile) bool { total += f.size; return true })
	start := time.Now()
	var done int64
	// pace is called after each chunk read: done/total of the pass takes
	// done/total of the period, so even one huge file is read slowly.
	pace := func(n int64) bool {
		done += n
		if total <= 0 {
			return true
		}
		due := passDue(start, sc.period, done, total)
		if time.Until(due) <= 0 {
			select {
			case <-sc.s.exitCh:
				return false
			default:
				return true
			}
		}
		return sc.waitUntil(due)
	}
	alive := true
	sc.walk(func(f scrubFile) bool {
		alive = sc.check(f, pace)
		return alive
	})
	if alive {
		sc.s.log.Debug().Int64("bytes", total).Dur("took", time.Since(start)).Msg("scrub pass done")
	}
	return alive
}

// passDue is when a pass that started at start and has read done of the
// total bytes it counted may go on: done/total into the period. Files that
// came after the count are read too, but never past the period's end: a
// large one would otherwise hold the pass for its size over the count's
// (hours for one upload after a few bytes).
func passDue(start time.Time, period time.Duration, done, total int64) time.Time {
	return start.Add(time.Duration(float64(period) * min(float64(done)/float64(total), 1)))
}

// check reads one file, calling pace after each chunk, and heals it when
// its content does not match its name; false on exit.
func (sc *scrubber) check(f scrubFile, pace func(n int64) bool) bool {
	want, _ := nameCRC(f.remote, f.size)
	base := int64(0)
	if f.trunk != nil {
		want, base = f.trunk.info.CRC32, int64(f.trunk.slot.off)+trunkHeaderLen
	}
	got, alive, err := crcPaced(f.path, base, f.size, pace)
	if !alive {
		return false
	}
	if err != nil {
		return true // deleted meanwhile, or unreadable: the next pass retries
	}
	sc.checked.Add(1)
	if got == want {
		return true
	}
	sc.damaged.Add(1)
	sc.s.log.Error().Str("file", f.remote).Uint32("crc32", got).Uint32("want", want).
		Int64("scrub_damaged_total", sc.damaged.Load()).Msg("scrub: file damaged on disk")
	if f.trunk != nil {
		sc.repairTrunk(f.trunk, f.size) // trunk_verify.go
		return true
	}
	sc.repair(f, want)
	return true
}

// crcPaced is the CRC32 of size bytes from base of the file at path, read
// a buffer at a time with pace called after each (after the last once the
// file is closed: the pass waits with no descriptor open); alive is false
// when pace says the storage is exiting.
func crcPaced(path string, base, size int64, pace func(n int64) bool) (crc uint32, alive bool, err error) {
	fd, err := openRead(path)
	if err != nil {
		return 0, true, err
	}
	bp := copyBufs.get()
	var last int64
	for off := int64(0); off < size; {
		b := (*bp)[:min(int64(len(*bp)), size-off)]
		if err = preadFull(fd, b, base+off); err != nil {
			break
		}
		crc = crc32.Update(crc, crc32.IEEETable, b)
		off += int64(len(b))
		if off == size {
			last = int64(len(b))
		} else if !pace(int64(len(b))) {
			copyBufs.put(bp)
			syscall.Close(fd)
			return 0, false, nil
		}
	}
	copyBufs.put(bp)
	syscall.Close(fd)
	if err != nil {
		return 0, true, err
	}
	return crc, pace(last), nil
}

// healReported heals a file a download found damaged, after reading it
// again (it may have been healed or deleted meanwhile).
func (sc *scrubber) healReported(remote string) {
	if ref, ok, err := sc.s.trunkRefOf(remote); ok {
		if err == nil {
			sc.healTrunk(ref) // trunk_verify.go
		}
		return
	}
	_, path, err := sc.s.parseRemote(remote)
	if err != nil {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	want, ok := nameCRC(remote, fi.Size())
	if !ok {
		return
	}
	if got, err := crcOfPath(path, fi.Size()); err != nil || got == want {
		return
	}
	sc.damaged.Add(1)
	sc.repair(scrubFile{remote: remote, path: path, size: fi.Size()}, want)
}

// repair replaces f with a good copy from the group, else quarantines it.
func (sc *scrubber) repair(f scrubFile, want uint32) {
	s := sc.s
	mu := s.fileLock(f.remote) // against a concurrent delete of the same file
	mu.Lock()
	defer mu.Unlock()
	if _, err := os.Stat(f.path); err != nil {
		return // deleted meanwhile
	}
	addr, err := sc.fromGroup(func(addr string) error { return sc.fetchOver(addr, f, want) })
	if err == nil {
		s.log.Warn().Str("file", f.remote).Str("from", addr).Int64("scrub_healed_total", sc.healed.Load()).Msg("scrub: damaged file replaced by a verified copy")
		return
	}
	errs := []error{err}
	q, err := sc.quarantine(f)
	ev := s.log.Error().Err(errors.Join(errs...)).Str("file", f.remote)
	if err != nil {
		ev.AnErr("quarantine", err).Msg("scrub: no good copy in the group and the damaged file could not be moved away")
		return
	}
	ev.Str("moved_to", q).Msg("scrub: no good copy in the group, damaged file moved away")
}

// fromGroup calls fetch with the address of each storage of the group that
// may have a good copy until one succeeds (counted healed), and returns
// that address, or every failure.
func (sc *scrubber) fromGroup(fetch func(addr string) error) (string, error) {
	var errs []error
	for _, b := range sc.s.repl.peers() {
		if b.IP == "" || b.Port <= 0 || b.Status == proto.StatusOffline || b.Status == proto.StatusDeleted || b.Status == proto.StatusIPChanged {
			continue
		}
		addr := net.JoinHostPort(b.IP, strconv.Itoa(int(b.Port)))
		err := fetch(addr)
		if err == nil {
			sc.healed.Add(1)
			return addr, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	if len(errs) == 0 {
		return "", errors.New("no other storage in the group")
	}
	return "", errors.Join(errs...)
}

// quarantine moves f to <store path>/quarantine.
func (sc *scrubber) quarantine(f scrubFile) (string, error) {
	r, _, err := sc.s.parseRemote(f.remote)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(sc.s.paths[r.StorePath].root, "quarantine")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	q := filepath.Join(dir, strings.ReplaceAll(f.remote, "/", "_"))
	return q, os.Rename(f.path, q)
}

// fetchOver downloads f from the storage at addr into a temp file of its
// store path, checks size and CRC32 and renames it over f.path. The
// damaged file's mtime is kept (QUERY_FILE_INFO reports it).
func (sc *scrubber) fetchOver(addr string, f scrubFile, want uint32) error {
	s := sc.s
	r, _, err := s.parseRemote(f.remote)
	if err != nil {
		return err
	}
	tmpDir := s.paths[r.StorePath].tempDir(0)
	tmp, err := createTemp(tmpDir, "heal")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing left to remove
	defer tmp.Close()
	if err := sc.fetchVerified(addr, f.remote, f.size, want, tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if fi, err := os.Stat(f.path); err == nil {
		os.Chtimes(tmp.Name(), fi.ModTime(), fi.ModTime())
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(f.path)); err != nil {
		s.log.Warn().Err(err).Str("file", f.remote).Msg("scrub: fsync directory")
	}
	return nil
}

// fetchVerified downloads remote (size bytes) from the storage at addr
// into dst and checks its CRC32 against want.
func (sc *scrubber) fetchVerified(addr, remote string, size int64, want uint32, dst io.Writer) error {
	s := sc.s
	d := net.Dialer{Timeout: s.connTimeout}
	if s.bindIP != "" && s.opts.ClientBind {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(s.bindIP)}
	}
	c, err := d.DialContext(s.ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(s.timeout))
	req := (&proto.Buf{}).I64(0).I64(0).Fixed(s.group, proto.GroupNameLen).String(remote).B
	if err := proto.WritePacket(c, proto.CmdDownloadFile, 0, req); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	h, err := proto.ReadHeader(c)
	switch {
	case err != nil:
		return fmt.Errorf("download: %w", err)
	case h.Status != 0:
		return fmt.Errorf("download: %w", proto.StatusError(h.Status))
	case h.PkgLen != size:
		return fmt.Errorf("download: %d bytes, the name says %d", h.PkgLen, size)
	}
	crc := crc32.NewIEEE()
	src := &peerConn{c: c, d: s.timeout}
	if _, err := io.CopyN(io.MultiWriter(dst, crc), src, size); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if got := crc.Sum32(); got != want {
		return fmt.Errorf("copy has CRC32 %08X, the name says %08X", got, want)
	}
	return nil
}

// crcOfPath is the CRC32 of the first size bytes of the file at path.
func crcOfPath(path string, size int64) (uint32, error) {
	fd, err := openRead(path)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	return crcOfFD(fd, size)
}
