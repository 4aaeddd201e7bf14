package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// Slow and hostile clients against a real storage:
// idle, half-sent headers and trickled bodies must neither starve a normal
// client nor leak connections, goroutines or file descriptors.

// hzPid is the daemon's pid, from its pid file.
func hzPid(t *testing.T, p *cluster.Proc) int {
	t.Helper()
	name := strings.TrimPrefix(p.Name, "fdfs_")
	b, err := os.ReadFile(filepath.Join(p.Base, "data", "fdfs_"+name+".pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	return pid
}

// hzFDs counts the open file descriptors of process pid.
func hzFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	return len(ents)
}

// hzBaseFDs is pid's settled descriptor count: the least seen over 300 ms,
// so that a connection the daemon is just closing (a beat, a status
// query) is not taken for part of the baseline.
func hzBaseFDs(t *testing.T, pid int) int {
	t.Helper()
	n := hzFDs(t, pid)
	for range 15 {
		time.Sleep(20 * time.Millisecond)
		n = min(n, hzFDs(t, pid))
	}
	return n
}

// hzWaitFDs polls until pid has at most max descriptors open.
func hzWaitFDs(t *testing.T, p *cluster.Proc, pid, max int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	n := hzFDs(t, pid)
	for n > max && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		n = hzFDs(t, pid)
	}
	if n > max {
		links, _ := exec.Command("ls", "-l", fmt.Sprintf("/proc/%d/fd", pid)).CombinedOutput()
		t.Fatalf("%s: %d descriptors open, want at most %d\n%s\nlog:\n%s", p.Name, n, max, links, p.Log())
	}
}

// hzConnCurrent is the storage's current connection count as its last beat
// told the tracker (-1 when not listed).
func hzConnCurrent(tr, st *cluster.Proc) int32 {
	for _, r := range trStorages(tr.Addr(), "group1") {
		if r.ID == st.IP {
			return r.Stat.ConnCurrent
		}
	}
	return -1
}

// hzNewClient is a pooled client that the test closes itself.
func hzNewClient(t *testing.T, tr *cluster.Proc) *client.Client {
	t.Helper()
	cfg, err := conf.LoadClient(cluster.ClientConf(t, []*cluster.Proc{tr}, nil))
	require.NoError(t, err)
	c, err := client.New(cfg)
	require.NoError(t, err)
	return c
}

// hzRoundTrip uploads size random bytes and reads them back, all within d.
func hzRoundTrip(c *client.Client, size int, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	data := make([]byte, size)
	rand.Read(data)
	id, err := c.UploadBuffer(ctx, data, "bin")
	if err != nil {
		return err
	}
	got, err := c.DownloadBytes(ctx, id, 0, 0)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("download of %s: %d bytes differ from the %d uploaded", id, len(got), len(data))
	}
	return nil
}

// slowConns is a set of hostile connections to one address.
type slowConns struct {
	mu    sync.Mutex
	conns []net.Conn
	stop  chan struct{}
	done  sync.WaitGroup
}

// hzDialSlow opens n connections to addr. kind "header" sends 5 of the 10
// header bytes; kind "body" sends a whole UPLOAD_FILE header announcing 1
// MiB and then nothing but a byte per second (trickle).
func hzDialSlow(t *testing.T, addr string, n int, kind string) *slowConns {
	t.Helper()
	s := &slowConns{stop: make(chan struct{})}
	t.Cleanup(s.close)
	var hdr []byte
	switch kind {
	case "header":
		full := make([]byte, proto.HeaderSize)
		proto.Header{PkgLen: 100, Cmd: proto.CmdUploadFile}.Encode(full)
		hdr = full[:5]
	case "body":
		const size = 1 << 20
		w := &proto.Buf{B: make([]byte, proto.HeaderSize)}
		proto.Header{PkgLen: 1 + 8 + proto.ExtLen + size, Cmd: proto.CmdUploadFile}.Encode(w.B)
		w.U8(0).I64(size).Fixed("bin", proto.ExtLen)
		hdr = w.B
	}
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write(hdr)
		require.NoError(t, err)
		s.conns = append(s.conns, c)
	}
	if kind == "body" {
		s.done.Add(1)
		go s.trickle()
	}
	return s
}

// trickle writes one body byte per second on every connection.
func (s *slowConns) trickle() {
	defer s.done.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		s.mu.Lock()
		for _, c := range s.conns {
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			c.Write([]byte{'x'})
		}
		s.mu.Unlock()
	}
}

func (s *slowConns) close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.done.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// closedByPeer counts the connections the server has closed: a read returns
// EOF (or a reset) at once rather than timing out.
func (s *slowConns) closedByPeer() int {
	s.mu.Lock()
	conns := append([]net.Conn(nil), s.conns...)
	s.mu.Unlock() // not held while reading: trickle goes on meanwhile
	n := 0
	var b [1]byte
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		_, err := c.Read(b[:])
		if ne, ok := err.(net.Error); err != nil && !(ok && ne.Timeout()) {
			n++
		}
	}
	return n
}

// TestSlowClientsDoNotStarveNormalClient: 1,000 slow connections (500 with
// a half-sent header, 500 trickling an upload body) against one storage; a
// normal client's upload and download still finish within 10 s, the
// trickled bodies are reaped once min_transfer_rate_grace is over (their
// rate is far below min_transfer_rate), the half-sent headers after
// network_timeout, and the storage is back to its connection and descriptor
// baseline.
func TestSlowClientsDoNotStarveNormalClient(t *testing.T) {
	tr := cluster.StartTracker(t, "127.0.0.111", nil)
	st := cluster.StartStorage(t, "127.0.0.112", "group1", []*cluster.Proc{tr}, map[string]string{
		"max_connections": "2048", "network_timeout": "6", "min_transfer_rate_grace": "3",
	})
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	pid := hzPid(t, st)

	// Warm up with a normal client, close it: that is the baseline.
	c := hzNewClient(t, tr)
	require.NoError(t, hzRoundTrip(c, 64<<10, 10*time.Second))
	c.Close()
	require.Eventually(t, func() bool { return hzConnCurrent(tr, st) == 0 }, 10*time.Second, 50*time.Millisecond)
	base := hzFDs(t, pid)

	headers := hzDialSlow(t, st.Addr(), 500, "header")
	bodies := hzDialSlow(t, st.Addr(), 500, "body")
	tBodies := time.Now()
	// The storage really holds them all (one descriptor each).
	require.Eventually(t, func() bool { return hzFDs(t, pid) >= base+1000 }, 5*time.Second, 20*time.Millisecond,
		"storage holds %d descriptors, baseline %d", hzFDs(t, pid), base)

	c = hzNewClient(t, tr)
	defer c.Close()
	t0 := time.Now()
	require.NoError(t, hzRoundTrip(c, 1<<20, 10*time.Second))
	t.Logf("upload+download of 1 MiB beside 1000 slow connections: %v", time.Since(t0))

	// Trickled bodies, a byte per second, each arriving well within
	// network_timeout, are cut by the rate guard once its 3 s grace is over
	// (FastDFS's per-read timeout alone would keep them forever); half-sent
	// headers are dropped after network_timeout (6 s).
	require.Eventually(t, func() bool { return bodies.closedByPeer() == 500 }, 12*time.Second, 200*time.Millisecond,
		"trickled uploads still held; storage log:\n%s", hzTail(st.Log(), 30))
	t.Logf("500 trickled uploads reaped %v after they started", time.Since(tBodies))
	require.Contains(t, st.Log(), "transfer below min_transfer_rate, closing")
	require.Eventually(t, func() bool { return headers.closedByPeer() == 500 }, 15*time.Second, 200*time.Millisecond)
	require.NoError(t, hzRoundTrip(c, 200<<10, 10*time.Second))

	c.Close()
	headers.close()
	bodies.close()
	require.Eventually(t, func() bool { return hzConnCurrent(tr, st) == 0 }, 15*time.Second, 100*time.Millisecond,
		"connection.current_count %d", hzConnCurrent(tr, st))
	// The listener, logs, binlog and the tracker connection stay; a
	// descriptor or two may be open transiently (stat file save).
	hzWaitFDs(t, st, pid, base+2, 10*time.Second)
	require.False(t, st.Exited())
}

// TestMaxConnectionsReachedClosesAtOnce: with max_connections taken by
// half-sent headers a new connection is closed at once (not left hanging),
// and once network_timeout reaps the slow ones a normal client gets through.
func TestMaxConnectionsReachedClosesAtOnce(t *testing.T) {
	tr := cluster.StartTracker(t, "127.0.0.113", nil)
	st := cluster.StartStorage(t, "127.0.0.114", "group1", []*cluster.Proc{tr}, map[string]string{
		"max_connections": "64", "network_timeout": "3",
	})
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	pid := hzPid(t, st)
	base := hzFDs(t, pid)

	slow := hzDialSlow(t, st.Addr(), 64, "header")
	// Over the limit: accepted by the kernel, closed by the storage at once.
	refused := func() bool {
		cn, err := net.DialTimeout("tcp", st.Addr(), 2*time.Second)
		if err != nil {
			return true
		}
		defer cn.Close()
		cn.SetDeadline(time.Now().Add(time.Second))
		proto.WritePacket(cn, proto.CmdActiveTest, 0, nil)
		_, err = proto.ReadResponse(cn, 0)
		return err != nil
	}
	t0 := time.Now()
	require.True(t, refused(), "a connection over max_connections was served")
	require.Less(t, time.Since(t0), time.Second, "refused connection hung")
	require.Equal(t, 0, slow.closedByPeer(), "slow connections dropped before network_timeout")

	// After network_timeout the slots are free again.
	c := hzNewClient(t, tr)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = hzRoundTrip(c, 100<<10, 2*time.Second); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.NoError(t, err, "normal client never got through")
	// The first freed slot lets the client in while the reaper may still be
	// closing the rest, and each close is seen by its reader goroutine later.
	require.Eventually(t, func() bool { return slow.closedByPeer() == 64 }, 10*time.Second, 50*time.Millisecond,
		"slow connections closed: %d of 64", slow.closedByPeer())
	c.Close()
	slow.close()
	hzWaitFDs(t, st, pid, base+2, 10*time.Second)
}

// TestStorageSurvivesDescriptorExhaustion: the daemon's RLIMIT_NOFILE is
// lowered below max_connections; running out of descriptors while accepting
// must not end the daemon, and it serves again once the hostile connections
// are gone.
func TestStorageSurvivesDescriptorExhaustion(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit(1) not installed")
	}
	tr := cluster.StartTracker(t, "127.0.0.115", nil)
	st := cluster.StartStorage(t, "127.0.0.116", "group1", []*cluster.Proc{tr}, map[string]string{
		"max_connections": "2048", "network_timeout": "30",
	})
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	pid := hzPid(t, st)
	out, err := exec.Command("prlimit", "--pid", strconv.Itoa(pid), "--nofile=128:128").CombinedOutput()
	if err != nil {
		t.Skipf("prlimit: %v %s", err, out)
	}
	slow := hzDialSlow(t, st.Addr(), 200, "body")
	// The storage hits EMFILE while accepting; it must stay up.
	require.Eventually(t, func() bool { return hzFDs(t, pid) >= 120 }, 5*time.Second, 20*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // let the accept loop meet EMFILE a few times
	require.False(t, st.Exited(), "storage died on EMFILE:\n%s", st.Log())
	slow.close()
	hzWaitFDs(t, st, pid, 100, 10*time.Second)

	c := hzNewClient(t, tr)
	defer c.Close()
	require.NoError(t, hzRoundTrip(c, 100<<10, 10*time.Second), "storage log:\n%s", st.Log())
	require.Contains(t, st.Log(), "accept failed, backing off")
}

// hzTail is the last n lines of a log.
func hzTail(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// hzClientWith is a pooled client with extra client.conf keys.
func hzClientWith(t *testing.T, tr *cluster.Proc, over map[string]string) *client.Client {
	t.Helper()
	cfg, err := conf.LoadClient(cluster.ClientConf(t, []*cluster.Proc{tr}, over))
	require.NoError(t, err)
	c, err := client.New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// TestIdlePooledConnections: a pooled client keeps its storage connection
// while idle and closes it after connection_pool_max_idle_time; the storage
// and the tracker close a connection idle for network_timeout themselves,
// and a client whose pooled connection the server dropped still succeeds.
func TestIdlePooledConnections(t *testing.T) {
	tr := cluster.StartTracker(t, "127.0.0.117", map[string]string{"network_timeout": "2"})
	st := cluster.StartStorage(t, "127.0.0.118", "group1", []*cluster.Proc{tr}, map[string]string{"network_timeout": "2"})
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	pid := hzPid(t, st)
	base := hzBaseFDs(t, pid)

	t.Run("client reaps after max idle time", func(t *testing.T) {
		c := hzClientWith(t, tr, map[string]string{"connection_pool_max_idle_time": "1"})
		require.NoError(t, hzRoundTrip(c, 10<<10, 10*time.Second))
		require.GreaterOrEqual(t, hzFDs(t, pid), base+1, "pooled connection not kept")
		t0 := time.Now()
		hzWaitFDs(t, st, pid, base, 5*time.Second)
		// Closed by the client's janitor (1 s), before the server's 2 s.
		require.Less(t, time.Since(t0), 1900*time.Millisecond)
	})

	t.Run("server reaps after network_timeout", func(t *testing.T) {
		c := hzClientWith(t, tr, map[string]string{"connection_pool_max_idle_time": "60"})
		require.NoError(t, hzRoundTrip(c, 10<<10, 10*time.Second))
		require.GreaterOrEqual(t, hzFDs(t, pid), base+1, "pooled connection not kept")
		hzWaitFDs(t, st, pid, base, 6*time.Second)
		// The pooled connections are dead now; the next calls redial.
		require.NoError(t, hzRoundTrip(c, 10<<10, 10*time.Second))
	})

	t.Run("raw idle connections closed by both daemons", func(t *testing.T) {
		for _, addr := range []string{tr.Addr(), st.Addr()} {
			cn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer cn.Close()
			cn.SetReadDeadline(time.Now().Add(10 * time.Second))
			t0 := time.Now()
			_, err = cn.Read(make([]byte, 1))
			require.Error(t, err)
			require.NotErrorIs(t, err, os.ErrDeadlineExceeded, "%s kept an idle connection", addr)
			require.InDelta(t, 2, time.Since(t0).Seconds(), 1.5)
		}
	})
}

// TestDaemonDescriptorsReturnToBaseline: after a load of concurrent
// uploads and downloads through pooled clients, and the clients closed, the
// storage and the tracker hold as many descriptors as before.
func TestDaemonDescriptorsReturnToBaseline(t *testing.T) {
	tr := cluster.StartTracker(t, "127.0.0.119", nil)
	st := cluster.StartStorage(t, "127.0.0.120", "group1", []*cluster.Proc{tr}, nil)
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	spid, tpid := hzPid(t, st), hzPid(t, tr)
	sbase, tbase := hzFDs(t, spid), hzFDs(t, tpid)

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		c := hzNewClient(t, tr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for i := range 25 {
				if err := hzRoundTrip(c, 1+i*4099, 10*time.Second); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// A descriptor or two may be open transiently (stat file save, binlog
	// flush).
	hzWaitFDs(t, st, spid, sbase+2, 10*time.Second)
	hzWaitFDs(t, tr, tpid, tbase+2, 10*time.Second)
}
