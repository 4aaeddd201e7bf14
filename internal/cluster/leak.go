package cluster

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"yunpan/internal/metrics/scrape"
)

// Leak check: every daemon a test starts through the
// harness must, when the test ends, be back at the goroutines and file
// descriptors it had when it became ready.
//
// The baseline is taken when the daemon answers ACTIVE_TEST (Start, so a
// restarted daemon gets a new one). The check runs once per test, in the
// cleanup that stops the test's daemons: it runs after every cleanup
// registered after the first daemon started (clients' Close, hostile
// connections, nginx) and before any daemon stops. It polls for LeakWait
// until every live daemon is within bounds at one instant; killed daemons
// are skipped. A test that failed is not checked.
//
// What is counted. Descriptors come from /proc/<pid>/fd, sockets are
// matched with /proc/net/tcp and the holder of their other end. Sorted into:
//
//   - links: TCP connections with another daemon the harness started (the
//     other end is held by a live daemon, or the remote address is a
//     daemon's service port: a link whose peer was killed). Beats, leader
//     links, sync and sync-ack pushes open and close them as the cluster
//     lives, so they are not compared with the baseline; they are bounded
//     instead: at most maxPeerLinks between two daemons.
//   - binlog readers: read-only descriptors of a storage's own
//     data/sync/binlog.NNN, one per sync goroutine (peer), at most as many as
//     the storage reports syncers (dfs_storage_sync_peer_status series).
//   - trunk files: a storage's own data/trunk/binlog and trunk files
//     (data/HH/HH/NNNNNN), which it keeps open while in use: at most
//     maxTrunkFDs.
//   - own: everything else (listeners, log, binlog writer, pipes, client
//     connections, files): must be back at or below the baseline, exactly.
//
// Goroutines come from yunpan_goroutines on the daemon's /metrics (the harness
// sets metrics_addr when the test does not). A daemon runs one goroutine
// per inbound link (its serving goroutine) and one per syncer; those are
// subtracted, and the rest must be back at or below the baseline, exactly.
// Each scrape is one connection the harness closes (no keep-alive); it is
// counted alike in the baseline and the checks.
//
// Connections kept on purpose: a connection whose other end is this test
// process (a pooled dfs/client connection, an HTTP keep-alive connection)
// counts as a leak. Close clients before the test ends (defer c.Close(), or
// t.Cleanup(c.Close) after starting the daemons); the harness closes
// http.DefaultTransport's idle connections itself. A test that leaves
// connections on purpose calls SkipLeakCheck with its reason.

// LeakWait is how long the end-of-test check lets daemons wind down.
var LeakWait = 10 * time.Second

// maxPeerLinks bounds the connections between two daemons: sync out and
// in, a beat or leader link, and the sync-ack pool (8 idle per peer,
// dfs/storage/replicas.go) with one push in flight.
const maxPeerLinks = 12

// SkipLeakCheck turns the end-of-test leak check off for tb's daemons;
// reason says why (logged).
func SkipLeakCheck(tb TB, reason string) {
	tb.Helper()
	// Not through watchOf: registering its cleanup before the test's first
	// TempDir would stop the daemons after their directories are gone.
	skips.Store(tb, reason)
	if l, ok := tb.(interface{ Logf(string, ...any) }); ok {
		l.Logf("daemon leak check off: %s", reason)
	}
}

// CheckLeaks runs the end-of-test check on tb's daemons now and returns
// its report, "" when every live daemon is within its baseline (for tests
// of the check itself; a goroutine report ends the daemon for its dump).
func CheckLeaks(tb TB) string {
	w := watchOf(tb)
	w.mu.Lock()
	procs := w.procs
	w.mu.Unlock()
	closeIdleHTTP()
	return checkLeaks(procs)
}

// live lists every daemon the harness has started and not yet cleaned up,
// across tests: their links are recognised whoever started them.
var live struct {
	sync.Mutex
	procs map[*Proc]bool
}

// watch is one test's daemons.
type watch struct {
	mu    sync.Mutex
	procs []*Proc
}

var (
	watches sync.Map // TB → *watch
	skips   sync.Map // TB → SkipLeakCheck's reason
)

// watchOf returns tb's watch, registering on first use the cleanup that
// checks and then stops its daemons (last started first).
func watchOf(tb TB) *watch {
	if w, ok := watches.Load(tb); ok {
		return w.(*watch)
	}
	w := &watch{}
	watches.Store(tb, w)
	tb.Cleanup(func() {
		watches.Delete(tb)
		w.end(tb)
	})
	return w
}

func (w *watch) add(p *Proc) {
	w.mu.Lock()
	w.procs = append(w.procs, p)
	w.mu.Unlock()
	live.Lock()
	if live.procs == nil {
		live.procs = map[*Proc]bool{}
	}
	live.procs[p] = true
	live.Unlock()
}

// checker is the part of testing.TB the check reports with; a Runner (the
// benchmark) is not checked.
type checker interface {
	Errorf(format string, args ...any)
	Failed() bool
}

func (w *watch) end(tb TB) {
	w.mu.Lock()
	procs := w.procs
	w.mu.Unlock()
	_, skip := skips.LoadAndDelete(tb)
	if t, ok := tb.(checker); ok && !skip && !t.Failed() {
		closeIdleHTTP()
		t0 := time.Now()
		if msg, sum := checkLeaksSummary(procs); msg != "" {
			t.Errorf("%s", msg)
		} else if l, ok := tb.(interface{ Logf(string, ...any) }); ok && sum != "" {
			l.Logf("daemons back at their baseline after %v (own goroutines and descriptors):\n%s", time.Since(t0).Round(time.Millisecond), sum)
		}
	}
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop()
	}
	live.Lock()
	for _, p := range procs {
		delete(live.procs, p)
	}
	live.Unlock()
}

// usage is what one daemon holds at one instant.
type usage struct {
	own        []fdDesc       // descriptors compared with the baseline
	links      map[string]int // per other daemon (name addr): connections
	linksIn    int            // links accepted by this daemon
	readers    int            // read-only descriptors of its binlog
	trunk      int            // its trunk binlog and trunk files
	goroutines int            // yunpan_goroutines, -1 when unknown
	syncers    int            // dfs_storage_sync_peer_status series
	scrapeErr  error
}

// fdDesc is one descriptor, described for a failure message.
type fdDesc struct {
	num  int
	text string
}

// ownGoroutines are the goroutines not accounted for by links and syncers.
func (u usage) ownGoroutines() int { return u.goroutines - u.linksIn - u.syncers }

// baseline records p's usage now that it is ready: the smallest of a few
// samples, so a goroutine or descriptor of the readiness probe that is
// still winding down does not raise it.
func (p *Proc) baseline() {
	p.base = nil
	var best *usage
	for i := range 3 {
		if i > 0 {
			time.Sleep(30 * time.Millisecond)
		}
		u, err := p.measure(snapshotPeers())
		if err != nil {
			return // exited meanwhile: Start reports it
		}
		if best == nil {
			best = &u
			continue
		}
		if len(u.own) < len(best.own) {
			best.own = u.own
		}
		if u.goroutines >= 0 && (best.goroutines < 0 || u.ownGoroutines() < best.ownGoroutines()) {
			best.goroutines, best.linksIn, best.syncers = u.goroutines, u.linksIn, u.syncers
		}
	}
	p.base = best
}

// peers is, for one instant, who holds which socket inode among the live
// daemons and this process, and the daemons' service addresses.
type peers struct {
	owner   map[uint64]*Proc // socket inode → daemon
	mine    map[uint64]bool  // socket inodes of this test process
	service map[netip.AddrPort]*Proc
	tcp     map[uint64]tcpSock
	byEnds  map[[2]netip.AddrPort]uint64 // (local, remote) → inode
}

func snapshotPeers() *peers {
	ps := &peers{owner: map[uint64]*Proc{}, mine: map[uint64]bool{}, service: map[netip.AddrPort]*Proc{},
		tcp: readTCP(), byEnds: map[[2]netip.AddrPort]uint64{}}
	live.Lock()
	procs := make([]*Proc, 0, len(live.procs))
	for p := range live.procs {
		procs = append(procs, p)
	}
	live.Unlock()
	for _, p := range procs {
		if ap, err := netip.ParseAddrPort(p.Addr()); err == nil {
			ps.service[ap] = p
		}
		if p.Exited() {
			continue
		}
		fds, _ := listFDs(p.pid())
		for _, f := range fds {
			if f.inode != 0 {
				ps.owner[f.inode] = p
			}
		}
	}
	fds, _ := listFDs(os.Getpid())
	for _, f := range fds {
		if f.inode != 0 {
			ps.mine[f.inode] = true
		}
	}
	for ino, s := range ps.tcp {
		ps.byEnds[[2]netip.AddrPort{s.local, s.remote}] = ino
	}
	return ps
}

func (p *Proc) pid() int {
	if p.c == nil {
		return -1
	}
	return p.c.pid()
}

var binlogRe = regexp.MustCompile(`/data/sync/binlog\.\d+$`)

// trunkRe matches a storage's trunk binlog and trunk files; it keeps at
// most maxTrunkFDs of them open (dfs/storage/trunk_fds.go: 64 trunk files
// and the binlog).
var trunkRe = regexp.MustCompile(`/data/(trunk/binlog|[0-9A-F]{2}/[0-9A-F]{2}/\d{6})$`)

const maxTrunkFDs = 65

// measure sorts p's descriptors and reads its goroutines.
func (p *Proc) measure(ps *peers) (usage, error) {
	u := usage{links: map[string]int{}, goroutines: -1}
	pid := p.pid()
	fds, err := listFDs(pid)
	if err != nil {
		return u, err
	}
	listen := map[netip.AddrPort]bool{}
	for _, f := range fds {
		if s, ok := ps.tcp[f.inode]; ok && s.state == "LISTEN" {
			listen[s.local] = true
		}
	}
	for _, f := range fds {
		s, isTCP := ps.tcp[f.inode]
		switch {
		case isTCP && s.state != "LISTEN":
			peerIno, hasPeer := ps.byEnds[[2]netip.AddrPort{s.remote, s.local}]
			var other *Proc
			if hasPeer {
				other = ps.owner[peerIno]
			}
			if other == nil && !hasPeer {
				other = ps.service[s.remote] // its daemon was killed, or closed its end
			}
			if other != nil && other != p {
				u.links[other.Name+" "+other.Addr()]++
				if listen[s.local] {
					u.linksIn++
				}
				continue
			}
			who := "no process (closed by the other side)"
			switch {
			case hasPeer && ps.mine[peerIno]:
				who = "this test process: close the client"
			case hasPeer:
				if o := peerOwner(peerIno); o != "" {
					who = o
				} else {
					who = "another process"
				}
			}
			u.own = append(u.own, fdDesc{f.num, fmt.Sprintf("%s %s %s <-> %s (other end: %s)", f.target, s.state, s.local, s.remote, who)})
		case strings.HasPrefix(f.target, p.Base) && binlogRe.MatchString(f.target) && readOnly(pid, f.num):
			u.readers++
		case strings.HasPrefix(f.target, p.Base) && trunkRe.MatchString(f.target):
			u.trunk++
		default:
			u.own = append(u.own, fdDesc{f.num, f.target})
		}
	}
	if p.metrics != "" {
		u.goroutines, u.syncers, u.scrapeErr = scrapeGoroutines(p.metrics)
	}
	return u, nil
}

// readOnly reports whether descriptor n of pid was opened O_RDONLY.
func readOnly(pid, n int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, n))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			fl, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && fl&syscall.O_ACCMODE == syscall.O_RDONLY
		}
	}
	return false
}

// scrapeClient does not keep connections: a kept one would be a
// descriptor and a goroutine in the daemon.
var scrapeClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// scrapeGoroutines reads yunpan_goroutines and counts the storage's syncers.
func scrapeGoroutines(addr string) (goroutines, syncers int, err error) {
	resp, err := scrapeClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return -1, 0, err
	}
	ss, err := scrape.Parse(bytes.NewReader(body))
	if err != nil {
		return -1, 0, err
	}
	g, ok := ss.Sum("yunpan_goroutines")
	if !ok {
		return -1, 0, fmt.Errorf("no yunpan_goroutines in /metrics")
	}
	return int(g), len(ss.Find("dfs_storage_sync_peer_status")), nil
}

// problems lists what is out of bounds in u against p's baseline.
func (p *Proc) problems(u usage) []string {
	b := p.base
	var out []string
	if len(u.own) > len(b.own) {
		out = append(out, fmt.Sprintf("%d descriptors, baseline %d (links to other daemons, binlog readers and trunk files not counted)", len(u.own), len(b.own)))
	}
	if u.readers > u.syncers {
		out = append(out, fmt.Sprintf("%d read-only binlog descriptors for %d syncers", u.readers, u.syncers))
	}
	if u.trunk > maxTrunkFDs {
		out = append(out, fmt.Sprintf("%d trunk binlog and trunk file descriptors (at most %d)", u.trunk, maxTrunkFDs))
	}
	for peer, n := range u.links {
		if n > maxPeerLinks {
			out = append(out, fmt.Sprintf("%d connections with %s (at most %d)", n, peer, maxPeerLinks))
		}
	}
	if b.goroutines >= 0 {
		switch {
		case u.goroutines < 0:
			out = append(out, fmt.Sprintf("goroutines unknown: %v", u.scrapeErr))
		case u.ownGoroutines() > b.ownGoroutines():
			out = append(out, fmt.Sprintf("%d goroutines besides %d inbound links and %d syncers (%d in all), baseline %d (%d in all, %d inbound links, %d syncers)",
				u.ownGoroutines(), u.linksIn, u.syncers, u.goroutines, b.ownGoroutines(), b.goroutines, b.linksIn, b.syncers))
		}
	}
	return out
}

// checkLeaks polls until every live daemon of procs is within its
// baseline, and returns the report of those still out after LeakWait ("").
func checkLeaks(procs []*Proc) string {
	report, _ := checkLeaksSummary(procs)
	return report
}

// checkLeaksSummary is checkLeaks that also returns, when all is well, one
// line per daemon checked with its counts (for -v logs).
func checkLeaksSummary(procs []*Proc) (report, summary string) {
	deadline := time.Now().Add(LeakWait)
	for {
		ps := snapshotPeers()
		bad := map[*Proc][]string{}
		uses := map[*Proc]usage{}
		var lines []string
		for _, p := range procs {
			if p.Exited() || p.base == nil {
				continue
			}
			u, err := p.measure(ps)
			if err != nil {
				continue // exited meanwhile
			}
			if pr := p.problems(u); len(pr) > 0 {
				bad[p], uses[p] = pr, u
			}
			links := 0
			for _, n := range u.links {
				links += n
			}
			lines = append(lines, fmt.Sprintf("%s %s: descriptors %d (baseline %d), goroutines %d (baseline %d), links %d (%d inbound), syncers %d, binlog readers %d",
				p.Name, p.Addr(), len(u.own), len(p.base.own), u.ownGoroutines(), p.base.ownGoroutines(), links, u.linksIn, u.syncers, u.readers))
		}
		if len(bad) == 0 {
			return "", strings.Join(lines, "\n")
		}
		if time.Now().After(deadline) {
			return leakReport(procs, bad, uses), ""
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func leakReport(procs []*Proc, bad map[*Proc][]string, uses map[*Proc]usage) string {
	var b strings.Builder
	fmt.Fprintf(&b, "daemons not back at their baseline %v after the test (internal/cluster/leak.go):", LeakWait)
	for _, p := range procs {
		pr, ok := bad[p]
		if !ok {
			continue
		}
		u := uses[p]
		fmt.Fprintf(&b, "\n--- %s %s (pid %d): %s", p.Name, p.Addr(), p.pid(), strings.Join(pr, "; "))
		before := map[string]int{}
		for _, d := range p.base.own {
			before[d.text]++
		}
		var added []string
		for _, d := range u.own {
			if before[d.text] > 0 {
				before[d.text]--
				continue
			}
			added = append(added, fmt.Sprintf("    fd %d -> %s", d.num, d.text))
		}
		if len(added) > 0 {
			fmt.Fprintf(&b, "\n  descriptors not in the baseline:\n%s", strings.Join(added, "\n"))
		}
		if len(u.links) > 0 {
			var ls []string
			for k, n := range u.links {
				ls = append(ls, fmt.Sprintf("%s ×%d", k, n))
			}
			sort.Strings(ls)
			fmt.Fprintf(&b, "\n  links (not counted): %s", strings.Join(ls, ", "))
		}
		if u.ownGoroutines() > p.base.ownGoroutines() && p.base.goroutines >= 0 {
			fmt.Fprintf(&b, "\n  goroutines (SIGQUIT dump):\n%s", p.goroutineDump())
		}
	}
	return b.String()
}

// goroutineDump ends p with SIGQUIT, which makes the Go runtime print every
// goroutine's stack on stderr; the test is failing and about to stop it.
func (p *Proc) goroutineDump() string {
	p.c.signal(syscall.SIGQUIT)
	select {
	case <-p.c.done:
	case <-time.After(5 * time.Second):
	}
	return CompactGoroutineDump(p.c.output())
}

// frameNoise is what differs between two goroutines on the same code:
// frame addresses, arguments, offsets.
var frameNoise = regexp.MustCompile(` (fp|sp|pc)=0x[0-9a-f]+| \+0x[0-9a-f]+|\([^()\n]*(\{[^\n]*\})?[^()\n]*\)$`)

// compactDump keeps the goroutines that run more than the runtime's own
// code, identical stacks once with their count.
func compactDump(dump string) string {
	count := map[string]int{}
	var order []string
	for _, block := range strings.Split(dump, "\n\n") {
		head, stack, ok := strings.Cut(block, "\n")
		if !ok || !strings.HasPrefix(head, "goroutine ") {
			continue
		}
		if strings.Contains(stack, "\ncreated by runtime.") || strings.HasPrefix(stack, "created by runtime.") {
			continue // the runtime's own goroutines
		}
		// Frames as function + file lines; the runtime's are left out.
		lines := strings.Split(stack, "\n")
		var kept []string
		for i := 0; i < len(lines); i++ {
			if strings.HasPrefix(lines[i], "runtime.") && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
				i++
				continue
			}
			kept = append(kept, frameNoise.ReplaceAllString(lines[i], ""))
		}
		if len(kept) == 0 {
			continue
		}
		state := head
		if i := strings.Index(head, "["); i >= 0 {
			state = head[i:]
		}
		key := state + "\n" + strings.Join(kept, "\n")
		if count[key] == 0 {
			order = append(order, key)
		}
		count[key]++
	}
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "%d× goroutine %s\n\n", count[k], k)
	}
	const max = 32 << 10
	if b.Len() > max {
		return b.String()[:max] + "\n…"
	}
	return b.String()
}

// metricsAddrOf returns the metrics_addr in kv, adding one on a free port
// of ip when the test set none (kv order is kept).
func metricsAddrOf(tb TB, ip string, kv [][2]string) (string, [][2]string) {
	for _, e := range kv {
		if e[0] == "metrics_addr" {
			host, port, err := net.SplitHostPort(e[1])
			if err != nil || port == "0" {
				return "", kv // off, or a port the harness cannot know
			}
			if host == "" {
				host = ip
			}
			return net.JoinHostPort(host, port), kv
		}
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(FreePort(tb, ip)))
	return addr, append(kv, [2]string{"metrics_addr", addr})
}

// closeIdleHTTP closes the idle keep-alive connections of
// http.DefaultTransport (what http.Get pools).
func closeIdleHTTP() {
	if t, ok := http.DefaultTransport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}
