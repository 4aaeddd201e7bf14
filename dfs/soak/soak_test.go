//go:build soak

package soak

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
	"yunpan/nginx"
)

var (
	duration  = flag.Duration("duration", 5*time.Minute, "how long the load and the kills run")
	workers   = flag.Int("workers", 4, "DFS client workers")
	webLoad   = flag.Int("web-workers", 1, "web workers (through Nginx)")
	killPause = flag.Duration("kill-pause", 3*time.Second, "how long a killed storage stays down")
	settle    = flag.Duration("settle", 2*time.Minute, "deadline for replication to settle after the load")
	signal    = flag.String("signal", "kill", "how storages are ended: kill (SIGKILL, a crash) or term (SIGTERM, a clean stop)")
)

// Extensions tell the two kinds of files apart on the storages' disks.
const (
	dfsExt = "dfsw" // uploaded by the DFS client workers
	webExt = "webw" // uploaded through the web path
)

// stats counts operations and failures by kind.
type stats struct {
	mu      sync.Mutex
	ops     map[string]int
	fails   map[string]int
	example map[string]string
}

func newStats() *stats {
	return &stats{ops: map[string]int{}, fails: map[string]int{}, example: map[string]string{}}
}

func (s *stats) op(kind string) {
	s.mu.Lock()
	s.ops[kind]++
	s.mu.Unlock()
}

func (s *stats) fail(kind string, err error) {
	k := kind + ": " + errClass(err)
	s.mu.Lock()
	s.fails[k]++
	if _, ok := s.example[k]; !ok {
		s.example[k] = tail(err.Error(), 200)
	}
	s.mu.Unlock()
}

func (s *stats) total() (ops, fails int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.ops {
		ops += n
	}
	for _, n := range s.fails {
		fails += n
	}
	return
}

// errClass is a short name for the kind of an error, for the report.
func errClass(err error) string {
	var se proto.StatusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("status %d (%s)", byte(se), se.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg)-i < 60 {
		return msg[i+2:]
	}
	return tail(msg, 60)
}

// dfsFile is one file a DFS worker uploaded and got an answer for.
type dfsFile struct {
	id        string
	sum       [32]byte
	size      int
	deletedAt time.Time // when the delete was acknowledged
}

// registry records acknowledged uploads and deletes.
type registry struct {
	mu      sync.Mutex
	live    []*dfsFile     // acknowledged, not (being) deleted
	idx     map[string]int // id → index in live
	deleted map[string]*dfsFile
	pending map[string]*dfsFile // a delete was sent but not acknowledged
}

func newRegistry() *registry {
	return &registry{idx: map[string]int{}, deleted: map[string]*dfsFile{}, pending: map[string]*dfsFile{}}
}

func (r *registry) add(f *dfsFile) {
	r.mu.Lock()
	r.idx[f.id] = len(r.live)
	r.live = append(r.live, f)
	r.mu.Unlock()
}

func (r *registry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

func (r *registry) pick(rnd *rand.Rand) *dfsFile {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.live) == 0 {
		return nil
	}
	return r.live[rnd.IntN(len(r.live))]
}

// take removes a random live file (to delete it).
func (r *registry) take(rnd *rand.Rand) *dfsFile {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.live) == 0 {
		return nil
	}
	f := r.live[rnd.IntN(len(r.live))]
	i := r.idx[f.id]
	last := r.live[len(r.live)-1]
	r.live[i] = last
	r.idx[last.id] = i
	r.live = r.live[:len(r.live)-1]
	delete(r.idx, f.id)
	return f
}

func (r *registry) takePending() *dfsFile {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, f := range r.pending {
		delete(r.pending, id)
		return f
	}
	return nil
}

func (r *registry) deleteDone(f *dfsFile, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		f.deletedAt = time.Now()
		r.deleted[f.id] = f
	} else {
		r.pending[f.id] = f
	}
}

// soak is the running system.
type soak struct {
	tr     *cluster.Proc
	groups map[string][]*cluster.Proc
	cli    *client.Client
	web    *webStack
	st     *stats
	reg    *registry
	webReg *webRegistry
	fatal  atomic.Int64 // acknowledged content that came back different
	fatalM sync.Mutex
	fatalS []string
	start  time.Time
	events []string // kills and restarts, for the report
}

// at is t as seconds since the load started (for the report).
func (s *soak) at(t time.Time) string { return fmt.Sprintf("+%.1fs", t.Sub(s.start).Seconds()) }

// event records a kill or restart with its time.
func (s *soak) event(format string, args ...any) {
	s.events = append(s.events, s.at(time.Now())+" "+fmt.Sprintf(format, args...))
}

func (s *soak) hardFail(format string, args ...any) {
	s.fatal.Add(1)
	s.fatalM.Lock()
	if len(s.fatalS) < 20 {
		s.fatalS = append(s.fatalS, fmt.Sprintf(format, args...))
	}
	s.fatalM.Unlock()
}

func randomData(rnd *rand.Rand, min, max int) []byte {
	b := make([]byte, min+rnd.IntN(max-min+1))
	for i := 0; i+8 <= len(b); i += 8 {
		v := rnd.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// The working sets are bounded, so a soak of any length stays within the
// disk (a storage refuses uploads once its free space is under
// reserved_storage_space): about 2 GB of DFS files (half a MiB on average,
// each on 2 storages) and 0.5 GB of web files.
const (
	maxLiveDFS = 4000
	maxLiveWeb = 4000
)

// dfsWorker mixes uploads, downloads (compared) and deletes until stop.
func (s *soak) dfsWorker(stop <-chan struct{}, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, seed^0x5eed))
	for {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p := rnd.Float64()
		if p < 0.45 && s.reg.count() >= maxLiveDFS {
			p = 0.9 // the working set is full: delete instead
		}
		switch {
		case p < 0.45 || s.reg.count() < 20:
			data := randomData(rnd, 4<<10, 1<<20)
			s.st.op("dfs upload")
			id, err := s.cli.UploadBuffer(ctx, data, dfsExt)
			if err != nil {
				s.st.fail("dfs upload", err)
				break
			}
			s.reg.add(&dfsFile{id: id, sum: sha256.Sum256(data), size: len(data)})
		case p < 0.80:
			f := s.reg.pick(rnd)
			if f == nil {
				break
			}
			s.st.op("dfs download")
			got, err := s.cli.DownloadBytes(ctx, f.id, 0, 0)
			if err != nil {
				s.st.fail("dfs download", err)
				break
			}
			if sha256.Sum256(got) != f.sum {
				s.hardFail("download %s: %d bytes differ from the %d acknowledged", f.id, len(got), f.size)
			}
		default:
			f := s.reg.takePending() // unacknowledged deletes are retried first
			if f == nil {
				f = s.reg.take(rnd)
			}
			if f == nil {
				break
			}
			s.st.op("dfs delete")
			err := s.cli.Delete(ctx, f.id)
			if err != nil {
				s.st.fail("dfs delete", err)
			}
			s.reg.deleteDone(f, err)
		}
		cancel()
	}
}

func TestSoak(t *testing.T) {
	bin := cluster.Bin(t)
	s := &soak{groups: map[string][]*cluster.Proc{}, st: newStats(), reg: newRegistry(), webReg: newWebRegistry()}
	s.tr = cluster.StartTracker(t, "127.0.0.201", nil)
	layout := map[string][]string{"group1": {"127.0.0.202", "127.0.0.203"}, "group2": {"127.0.0.204", "127.0.0.205"}}
	groups := []string{"group1", "group2"}
	var storages []*cluster.Proc
	for _, g := range groups {
		port := cluster.SharedPort(t, layout[g]...)
		for _, ip := range layout[g] {
			st := cluster.StartStorage(t, ip, g, []*cluster.Proc{s.tr}, map[string]string{"port": fmt.Sprint(port)})
			s.groups[g] = append(s.groups[g], st)
			storages = append(storages, st)
		}
	}
	for _, g := range groups {
		for _, st := range s.groups[g] {
			cluster.WaitStatus(t, s.tr, g, st, proto.StatusActive, 60*time.Second)
		}
	}
	clientConf := cluster.ClientConf(t, []*cluster.Proc{s.tr}, nil)
	cc, err := conf.LoadClient(clientConf)
	require.NoError(t, err)
	s.cli, err = client.New(cc)
	require.NoError(t, err)
	t.Cleanup(s.cli.Close)

	s.web = startWeb(t, bin, clientConf, []nginx.Store{
		{Group: "group1", Index: 0, Path: s.groups["group1"][0].Base},
		{Group: "group2", Index: 0, Path: s.groups["group2"][0].Base},
	})
	defer func() {
		if t.Failed() {
			t.Logf("web stack logs:\n%s", s.web.Logs())
		}
	}()
	acct := s.webAccount(t)

	// Load.
	t.Logf("soak: %v of load on 2 groups × 2 storages, %d DFS workers, %d web workers", *duration, *workers, *webLoad)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range *workers {
		wg.Add(1)
		go func() { defer wg.Done(); s.dfsWorker(stop, uint64(time.Now().UnixNano())+uint64(i)) }()
	}
	for i := range *webLoad {
		wg.Add(1)
		go func() { defer wg.Done(); s.webWorker(stop, acct, uint64(time.Now().UnixNano())+uint64(100+i)) }()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad() // on a failed restart too

	// Chaos in the test goroutine (Start and WaitStatus may Fatal): one
	// storage at a time is SIGKILLed, kept down a few seconds, restarted
	// and waited for until ACTIVE.
	start := time.Now()
	s.start = start
	end := start.Add(*duration)
	lastProgress := start
	for i := 0; time.Until(end) > *killPause+20*time.Second; i++ {
		victim := storages[i%len(storages)]
		group := groups[(i%len(storages))/2]
		if *signal == "term" {
			victim.Stop()
			s.st.op("stop storage (SIGTERM)")
		} else {
			victim.Kill()
			s.st.op("kill storage (SIGKILL)")
		}
		s.event("%s %s down", *signal, victim.Addr())
		time.Sleep(*killPause)
		victim.Start(t)
		cluster.WaitStatus(t, s.tr, group, victim, proto.StatusActive, 90*time.Second)
		s.st.op("restart storage")
		s.event("%s restarted and ACTIVE", victim.Addr())
		// Let it work a little before the next kill.
		time.Sleep(min(5*time.Second, max(0, time.Until(end))))
		if time.Since(lastProgress) >= 30*time.Second {
			lastProgress = time.Now()
			ops, fails := s.st.total()
			t.Logf("soak %v: %d operations, %d failures, %d live DFS files, %d live web files",
				time.Since(start).Round(time.Second), ops, fails, s.reg.count(), s.webReg.liveCount())
		}
	}
	for time.Now().Before(end) {
		time.Sleep(min(time.Second, time.Until(end)))
	}
	stopLoad()
	t.Logf("soak: load stopped after %v; every storage is up; settling", time.Since(start).Round(time.Second))
	for _, g := range groups {
		for _, st := range s.groups[g] {
			require.False(t, st.Exited(), "%s exited:\n%s", st.Addr(), st.Log())
			cluster.WaitStatus(t, s.tr, g, st, proto.StatusActive, 90*time.Second)
		}
	}

	// Web uploads whose storage died after storing the file but before
	// answering left files no row knows: the operator's reconciliation
	// (fdfs_list_files | reconcile) must find and delete them all.
	reconciled, planted := s.reconcileOrphans(t, bin)
	rep := s.verify(t, acct)
	rep.reconciled, rep.planted = reconciled-planted, planted
	t.Log(rep.String(s))
	if rep.lost > 0 || rep.orphans > 0 || rep.differ > 0 || rep.undead > 0 || s.fatal.Load() > 0 {
		t.Fatalf("soak failed: lost %d, orphans %d, differing replicas %d, deleted files still present %d, corrupt downloads %d",
			rep.lost, rep.orphans, rep.differ, rep.undead, s.fatal.Load())
	}
}

// report is the outcome of the final check.
type report struct {
	checked        int // file × replica checks by content
	dfsLive        int
	dfsDeleted     int
	webRows        int
	webLive        int
	gcPending      int
	lost           int
	differ         int
	undead         int
	orphans        int
	reconciled     int // orphans found by fdfs_list_files | reconcile before the check, queued and deleted
	planted        int // control orphans planted for the reconciliation (not counted in reconciled)
	leftovers      int // DFS-worker files nobody acknowledged (an upload whose answer was lost)
	pendingDeletes int
	problems       []string
	perKind        map[string]int
}

// problem records a detail line; at most 10 of each kind are kept.
func (r *report) problem(kind, format string, args ...any) {
	if r.perKind == nil {
		r.perKind = map[string]int{}
	}
	r.perKind[kind]++
	if r.perKind[kind] <= 10 {
		r.problems = append(r.problems, kind+": "+fmt.Sprintf(format, args...))
	}
}

func (r *report) String(s *soak) string {
	var b strings.Builder
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	fmt.Fprintf(&b, "\n===== soak report =====\n")
	fmt.Fprintf(&b, "operations:\n")
	for _, k := range sortedKeys(s.st.ops) {
		fmt.Fprintf(&b, "  %-22s %d\n", k, s.st.ops[k])
	}
	fmt.Fprintf(&b, "failures by kind (expected around kills):\n")
	if len(s.st.fails) == 0 {
		fmt.Fprintf(&b, "  none\n")
	}
	for _, k := range sortedKeys(s.st.fails) {
		fmt.Fprintf(&b, "  %-60s %d   e.g. %s\n", k, s.st.fails[k], s.st.example[k])
	}
	fmt.Fprintf(&b, "files checked: %d file×replica content checks (%d live DFS files, %d acknowledged DFS deletes, %d file_info rows, %d live web files)\n",
		r.checked, r.dfsLive, r.dfsDeleted, r.webRows, r.webLive)
	fmt.Fprintf(&b, "deletes retried at the end: %d; dfs_gc rows still queued: %d; unacknowledged DFS uploads left on disk: %d\n",
		r.pendingDeletes, r.gcPending, r.leftovers)
	fmt.Fprintf(&b, "corrupt downloads during load: %d\n", s.fatal.Load())
	fmt.Fprintf(&b, "reconciled orphans: %d (and %d planted as a control)\n", r.reconciled, r.planted)
	fmt.Fprintf(&b, "lost: %d\norphans: %d\ndiffering replicas: %d\ndeleted but present: %d\n", r.lost, r.orphans, r.differ, r.undead)
	fmt.Fprintf(&b, "storage kills (times since the load started):\n")
	for _, e := range s.events {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	for _, p := range s.fatalS {
		fmt.Fprintf(&b, "  CORRUPT: %s\n", p)
	}
	for _, p := range r.problems {
		fmt.Fprintf(&b, "  PROBLEM: %s\n", p)
	}
	fmt.Fprintf(&b, "=======================")
	return b.String()
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func init() {
	// $SOAK_TIME sets the default duration; -duration still wins.
	if v := os.Getenv("SOAK_TIME"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			*duration = d
		}
	}
}
