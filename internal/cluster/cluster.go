// Package cluster is the test harness: it starts real processes on
// loopback addresses for integration tests and benchmarks, and stops every
// one of them when the test (or the Runner) ends. DFS daemons
// (fdfs_trackerd, fdfs_storaged) in any layout (StartTracker,
// StartStorage), checked for leaks when the test ends (leak.go); for the
// cloud disk, a private MariaDB, Redis and a one-storage DFS (StartMariaDB,
// StartRedis, StartDFS). Bin provides the repository's binaries.
//
// The cloud disk's tests start MariaDB, Redis and DFS once per test binary
// (from TestMain with a Runner) and give every test its own database
// (MariaDB.NewDatabase) and Redis key prefix.
package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"yunpan/dfs/proto"
)

// TB is the part of testing.TB the harness uses, so that the benchmark
// command can run clusters outside `go test` too.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// FreePort returns a TCP port that is free on ip (127.0.0.1 when none is
// given) right now, for a process the test starts to listen on. It is taken below the kernel's ephemeral
// range (32768+ here): a port from there (what listening on port 0 gives)
// can be taken, between this check and the process's bind, as the local
// port of an outgoing connection of any test running in parallel, and was.
func FreePort(tb TB, ipOpt ...string) int {
	tb.Helper()
	ip := "127.0.0.1"
	if len(ipOpt) > 0 {
		ip = ipOpt[0]
	}
	for range 100 {
		p, ok := leasedPort()
		if !ok {
			p = 20000 + rand.IntN(12000)
		}
		if !givePort(p) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
		if err == nil {
			l.Close()
			return p
		}
	}
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		tb.Fatalf("free port on %s: %v", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Ports are handed out from blocks of portBlock that a test process
// leases with an flock on a file under the temp dir, so that two test
// binaries running at once (go test runs packages in parallel) never hand
// out the same port: a port checked free in one and bound a moment later
// by a daemon of the other made a program fail to start. The kernel
// releases the lock when the process ends, however it ends.
const (
	portBase  = 20000
	portBlock = 250
	portSpan  = 12000 // below the ephemeral range
)

// PortLeaseDir is the folder under the temp dir that holds the lease
// files (dfs/internal/leakcheck does not count them as leaked
// descriptors).
const PortLeaseDir = "yunpan-test-ports"

var lease struct {
	sync.Mutex
	next, end int
	held      []*os.File // the locked block files, open until the process ends
}

// leasedPort is the next port of this process's leased block, leasing a
// new block when it is used up; false when no block can be leased.
func leasedPort() (int, bool) {
	lease.Lock()
	defer lease.Unlock()
	if lease.next < lease.end {
		lease.next++
		return lease.next - 1, true
	}
	dir := filepath.Join(os.TempDir(), PortLeaseDir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return 0, false
	}
	blocks := portSpan / portBlock
	for _, b := range rand.Perm(blocks) {
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(b)+".lock"), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return 0, false
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			continue
		}
		lease.held = append(lease.held, f)
		lease.next, lease.end = portBase+b*portBlock+1, portBase+(b+1)*portBlock
		return portBase + b*portBlock, true
	}
	return 0, false
}

// givenPorts are the ports FreePort handed out in this process: nothing
// listens on a port until its process starts, so without them two daemons
// of one test could be given the same port (a stack's web and Redis ports
// once were).
var givenPorts struct {
	sync.Mutex
	m map[int]bool
}

// givePort records p as handed out; false if it already was.
func givePort(p int) bool {
	givenPorts.Lock()
	defer givenPorts.Unlock()
	if givenPorts.m == nil {
		givenPorts.m = map[int]bool{}
	}
	if givenPorts.m[p] {
		return false
	}
	givenPorts.m[p] = true
	return true
}

// SharedPort returns a TCP port free on every one of ips (the storages of
// a group share one port).
func SharedPort(tb TB, ips ...string) int {
	tb.Helper()
	for range 50 {
		port, ok := FreePort(tb, ips[0]), true
		for _, ip := range ips[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return port
		}
	}
	tb.Fatalf("no port free on all of %v", ips)
	return 0
}

// Proc is one running daemon.
type Proc struct {
	Name    string
	IP      string
	Port    int
	Conf    string
	Base    string
	c       *child
	binPath string
	metrics string // metrics_addr, "" when unknown (leak.go)
	base    *usage // goroutines and descriptors when ready (leak.go)
}

// Addr is "ip:port".
func (p *Proc) Addr() string { return fmt.Sprintf("%s:%d", p.IP, p.Port) }

// Kill ends the process with SIGKILL (a crash) and waits for it.
func (p *Proc) Kill() { p.c.kill() }

// Stop ends the process with SIGTERM and waits for it.
func (p *Proc) Stop() { p.c.stop(15 * time.Second) }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool { return p.c.exited() }

// Log returns the daemon's log file and stderr, for failure messages.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.Base, "logs", strings.TrimPrefix(p.Name, "fdfs_")+".log"))
	return string(b) + p.c.output()
}

// Start launches the process again with the same config (after Kill/Stop).
func (p *Proc) Start(tb TB) {
	tb.Helper()
	c, err := startChild(p.Name, p.binPath, p.Conf)
	if err != nil {
		tb.Fatal(err)
	}
	p.c = c
	if err := WaitTCP(p.Addr(), 20*time.Second, c.done); err != nil {
		c.kill() // never leave it running behind a failed test
		tb.Fatalf("%s on %s not ready: %v\n%s", p.Name, p.Addr(), err, p.Log())
	}
	p.baseline()
}

func writeConf(path string, kv [][2]string) error {
	var b strings.Builder
	for _, e := range kv {
		fmt.Fprintf(&b, "%s = %s\n", e[0], e[1])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// merge applies overrides (key → value; a value with "\n" is several lines
// of the same key) onto defaults, keeping order.
func merge(def [][2]string, over map[string]string) [][2]string {
	out := make([][2]string, 0, len(def)+len(over))
	seen := map[string]bool{}
	for _, e := range def {
		if v, ok := over[e[0]]; ok {
			seen[e[0]] = true
			for _, line := range strings.Split(v, "\n") {
				out = append(out, [2]string{e[0], line})
			}
			continue
		}
		out = append(out, e)
	}
	keys := make([]string, 0, len(over))
	for k := range over {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, line := range strings.Split(over[k], "\n") {
			out = append(out, [2]string{k, line})
		}
	}
	return out
}

func start(tb TB, name, ip string, port int, kv [][2]string, base string) *Proc {
	tb.Helper()
	conf := filepath.Join(base, name+".conf")
	maddr, kv := metricsAddrOf(tb, ip, kv)
	if err := writeConf(conf, kv); err != nil {
		tb.Fatal(err)
	}
	p := &Proc{Name: name, IP: ip, Port: port, Conf: conf, Base: base, binPath: filepath.Join(Bin(tb), name), metrics: maddr}
	w := watchOf(tb) // its cleanup checks for leaks, then stops the daemons
	p.Start(tb)
	w.add(p)
	return p
}

// StartTracker starts fdfs_trackerd on ip with a fresh base path.
func StartTracker(tb TB, ip string, over map[string]string) *Proc {
	tb.Helper()
	base := tb.TempDir()
	port := FreePort(tb, ip)
	kv := merge([][2]string{
		{"bind_addr", ip}, {"port", fmt.Sprint(port)}, {"base_path", base},
		{"connect_timeout", "5"}, {"network_timeout", "30"},
		{"store_lookup", "0"}, {"reserved_storage_space", "1%"},
		{"check_active_interval", "10"}, {"log_level", "info"},
	}, over)
	return start(tb, "fdfs_trackerd", ip, port, kv, base)
}

// StartStorage starts fdfs_storaged on ip in group, reporting to trackers.
func StartStorage(tb TB, ip, group string, trackers []*Proc, over map[string]string) *Proc {
	tb.Helper()
	base := tb.TempDir()
	port := FreePort(tb, ip)
	if p, ok := over["port"]; ok { // a group's storages share one port (FastDFS rule)
		fmt.Sscan(p, &port)
	}
	kv := [][2]string{
		{"group_name", group}, {"bind_addr", ip}, {"port", fmt.Sprint(port)}, {"base_path", base},
		{"connect_timeout", "5"}, {"network_timeout", "30"},
		{"heart_beat_interval", "1"}, {"stat_report_interval", "1"},
		{"store_path_count", "1"}, {"store_path0", base},
		{"subdir_count_per_path", "16"}, {"sync_binlog_buff_interval", "1"},
		{"log_level", "info"},
	}
	for _, t := range trackers {
		kv = append(kv, [2]string{"tracker_server", t.Addr()})
	}
	return start(tb, "fdfs_storaged", ip, port, merge(kv, over), base)
}

// ClientConf writes a client.conf for trackers and returns its path.
func ClientConf(tb TB, trackers []*Proc, over map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	kv := [][2]string{{"connect_timeout", "5"}, {"network_timeout", "30"}, {"base_path", dir}, {"log_level", "info"}}
	for _, t := range trackers {
		kv = append(kv, [2]string{"tracker_server", t.Addr()})
	}
	path := filepath.Join(dir, "client.conf")
	if err := writeConf(path, merge(kv, over)); err != nil {
		tb.Fatal(err)
	}
	return path
}

// WaitTCP polls addr until it accepts a connection and answers ACTIVE_TEST,
// the deadline passes, or done closes (the process died).
func WaitTCP(addr string, d time.Duration, done <-chan struct{}) error {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("process exited")
		default:
		}
		if last = activeTest(addr); last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("timeout: %v", last)
}

func activeTest(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if err := proto.WritePacket(c, proto.CmdActiveTest, 0, nil); err != nil {
		return err
	}
	_, err = proto.ReadResponse(c, 0)
	return err
}

// StorageStatus asks tracker for the status of storage id in group (0xFF if
// the tracker does not list it).
func StorageStatus(tracker, group, id string) (byte, error) {
	c, err := net.DialTimeout("tcp", tracker, 2*time.Second)
	if err != nil {
		return 0xFF, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := proto.WritePacket(c, proto.CmdServerListStorage, 0, (&proto.Buf{}).Fixed(group, proto.GroupNameLen).B); err != nil {
		return 0xFF, err
	}
	body, err := proto.ReadResponse(c, 1<<20)
	if err != nil {
		return 0xFF, err
	}
	stats, err := proto.DecodeStorageStats(body)
	if err != nil {
		return 0xFF, err
	}
	for _, s := range stats {
		if s.ID == id {
			return s.Status, nil
		}
	}
	return 0xFF, nil
}

// WaitStatus polls the tracker until storage (by its IP, the ID when storage
// IDs are off) reaches want.
func WaitStatus(tb TB, tracker *Proc, group string, storage *Proc, want byte, d time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(d)
	var got byte
	var err error
	for time.Now().Before(deadline) {
		got, err = StorageStatus(tracker.Addr(), group, storage.IP)
		if err == nil && got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("storage %s in %s: status %s (err %v), want %s\ntracker log:\n%s\nstorage log:\n%s",
		storage.Addr(), group, proto.StorageStatusName(got), err, proto.StorageStatusName(want), tracker.Log(), storage.Log())
}
