package client

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/client/clienttest"
	"yunpan/dfs/proto"
)

// Commands our little test server understands besides ACTIVE_TEST and QUIT.
const (
	cmdTestEINVAL = 250 // header-only EINVAL, then close (as a storage does)
	cmdTestENOENT = 249 // header-only ENOENT, connection kept
	cmdTestDrop   = 248 // no reply: the server closes the connection
	cmdTestHang   = 247 // no reply, connection left open
)

// testServer is a minimal FastDFS peer on 127.0.0.1 for pool and timeout
// tests. before runs after each request is read and before it is answered.
type testServer struct {
	ln       net.Listener
	accepts  atomic.Int32
	actives  atomic.Int32 // ACTIVE_TESTs answered
	closed   atomic.Int32 // connections finished
	oneShot  bool         // close every connection after its first reply
	before   func()
	received chan byte // every request's cmd, when non-nil
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startServer(t testing.TB, setup func(*testServer)) *testServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &testServer{ln: ln}
	if setup != nil {
		setup(s)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.closed.Add(1)
				defer c.Close()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

func (s *testServer) serve(c net.Conn) {
	for {
		h, err := proto.ReadHeader(c)
		if err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, c, h.PkgLen); err != nil {
			return
		}
		if s.received != nil {
			s.received <- h.Cmd
		}
		if s.before != nil {
			s.before()
		}
		switch h.Cmd {
		case proto.CmdActiveTest:
			s.actives.Add(1)
			if proto.WriteResponse(c, 0, nil) != nil {
				return
			}
		case proto.CmdServerListAllGroups:
			if proto.WriteResponse(c, 0, nil) != nil {
				return
			}
		case cmdTestENOENT:
			if proto.WriteResponse(c, proto.StatusENOENT, nil) != nil {
				return
			}
		case cmdTestHang:
			_, _ = io.Copy(io.Discard, c) // until the client gives up
			return
		case cmdTestEINVAL:
			_ = proto.WriteResponse(c, proto.StatusEINVAL, nil)
			return
		default: // QUIT, cmdTestDrop
			return
		}
		if s.oneShot {
			return
		}
	}
}

func call(c *Client, ctx context.Context, addr string, cmd byte) error {
	return c.withConn(ctx, addr, func(cn *conn) error {
		_, err := cn.roundTrip(cmd, 0, nil, 0)
		return err
	})
}

func TestPoolReuse(t *testing.T) {
	s := startServer(t, nil)
	c := newClient(t, s.addr())
	for range 3 {
		require.NoError(t, c.ActiveTest(ctx(t), s.addr()))
	}
	require.EqualValues(t, 1, s.accepts.Load())
	require.Equal(t, 1, c.pool.idleCount(s.addr()))
	// a clean non-zero status keeps the connection too
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(call(c, ctx(t), s.addr(), cmdTestENOENT)))
	require.Equal(t, 1, c.pool.idleCount(s.addr()))
	require.EqualValues(t, 1, s.accepts.Load())
}

func TestPoolDiscardAfterError(t *testing.T) {
	s := startServer(t, nil)
	c := newClient(t, s.addr())

	require.NoError(t, c.ActiveTest(ctx(t), s.addr()))
	require.Equal(t, proto.StatusEINVAL, proto.StatusOf(call(c, ctx(t), s.addr(), cmdTestEINVAL)))
	require.Zero(t, c.pool.idleCount(s.addr()), "EINVAL header: discarded")

	require.NoError(t, c.ActiveTest(ctx(t), s.addr()))
	require.EqualValues(t, 2, s.accepts.Load())
	err := call(c, ctx(t), s.addr(), cmdTestDrop)
	require.ErrorIs(t, err, io.EOF)
	require.Zero(t, c.pool.idleCount(s.addr()), "I/O error: discarded")

	require.NoError(t, c.ActiveTest(ctx(t), s.addr()))
	require.EqualValues(t, 3, s.accepts.Load())
}

func TestPoolIdleExpiry(t *testing.T) {
	s := startServer(t, nil)
	c, err := New(&conf.Client{TrackerServers: []string{s.addr()}, ConnectionPoolMaxIdleTime: 100 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.ActiveTest(ctx(t), s.addr()))
	require.Equal(t, 1, c.pool.idleCount(s.addr()))
	require.Eventually(t, func() bool { return c.pool.idleCount(s.addr()) == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return s.closed.Load() == 1 }, 5*time.Second, 10*time.Millisecond,
		"the server sees the expired connection closed")
}

func TestPoolProbesIdleConnections(t *testing.T) {
	t.Run("live connection: probed and reused", func(t *testing.T) {
		s := startServer(t, nil)
		c := newClient(t, s.addr())
		c.pool.checkAfter = 0
		require.NoError(t, c.ActiveTest(ctx(t), s.addr()))
		require.NoError(t, c.ActiveTest(ctx(t), s.addr()))
		require.EqualValues(t, 1, s.accepts.Load())
		require.EqualValues(t, 3, s.actives.Load(), "two calls and one probe")
	})
	t.Run("dropped by the server: probe fails, redial", func(t *testing.T) {
		s := startServer(t, func(s *testServer) { s.oneShot = true })
		c := newClient(t, s.addr())
		c.pool.checkAfter = 0
		require.NoError(t, c.ActiveTest(ctx(t), s.addr()))
		require.Eventually(t, func() bool { return s.closed.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
		require.NoError(t, c.ActiveTest(ctx(t), s.addr()))
		require.EqualValues(t, 2, s.accepts.Load())
	})
}

func TestPoolBounded(t *testing.T) {
	const n = DefaultMaxIdle + 8
	all := make(chan struct{})
	var once sync.Once
	var waiting atomic.Int32
	s := startServer(t, func(s *testServer) {
		// hold every reply until n requests are in, so n connections are open
		s.before = func() {
			if waiting.Add(1) == n {
				once.Do(func() { close(all) })
			}
			select {
			case <-all:
			case <-time.After(5 * time.Second):
			}
		}
	})
	c := newClient(t, s.addr())
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.ActiveTest(ctx(t), s.addr())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, n, s.accepts.Load())
	require.Equal(t, DefaultMaxIdle, c.pool.idleCount(s.addr()))
	require.Eventually(t, func() bool { return s.closed.Load() == n-DefaultMaxIdle }, 5*time.Second, 5*time.Millisecond,
		"connections beyond the idle bound are closed")
}

func TestDeadlines(t *testing.T) {
	s := startServer(t, nil)
	t.Run("context deadline", func(t *testing.T) {
		c := newClient(t, s.addr())
		cx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := call(c, cx, s.addr(), cmdTestHang)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), 5*time.Second)
		require.Zero(t, c.pool.idleCount(s.addr()))
	})
	t.Run("network_timeout without a context deadline", func(t *testing.T) {
		c, err := New(&conf.Client{TrackerServers: []string{s.addr()}, NetworkTimeout: 200 * time.Millisecond})
		require.NoError(t, err)
		defer c.Close()
		start := time.Now()
		err = call(c, context.Background(), s.addr(), cmdTestHang)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var ne net.Error
		require.True(t, errors.As(err, &ne) && ne.Timeout())
		require.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("cancel", func(t *testing.T) {
		s := startServer(t, func(s *testServer) { s.received = make(chan byte, 1) })
		c := newClient(t, s.addr())
		cx, cancel := context.WithCancel(context.Background())
		go func() {
			<-s.received
			cancel()
		}()
		err := call(c, cx, s.addr(), cmdTestHang)
		require.ErrorIs(t, err, context.Canceled)
		require.Zero(t, c.pool.idleCount(s.addr()))
	})
}

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	a := ln.Addr().String()
	require.NoError(t, ln.Close())
	return a
}

func TestTrackerFailover(t *testing.T) {
	sc := load(t, "01")
	srv := clienttest.Start(t, sc)
	c := newClient(t, deadAddr(t), srv.TrackerAddr())
	id, err := c.UploadBuffer(ctx(t), []byte(helloContent), "txt")
	require.NoError(t, err)
	require.Equal(t, sc.Output[0], id)
}

func TestTrackerRoundRobin(t *testing.T) {
	a, b := startServer(t, nil), startServer(t, nil)
	c := newClient(t, a.addr(), b.addr())
	for range 4 {
		_, err := c.ListGroups(ctx(t), "")
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, a.accepts.Load())
	require.EqualValues(t, 1, b.accepts.Load())
	require.Equal(t, 1, c.pool.idleCount(a.addr()))
	require.Equal(t, 1, c.pool.idleCount(b.addr()))
}

func TestAllTrackersDown(t *testing.T) {
	c := newClient(t, deadAddr(t), deadAddr(t))
	_, err := c.QueryStore(ctx(t), "")
	require.Error(t, err)
	require.Equal(t, byte(111), proto.StatusOf(err), "ECONNREFUSED: %v", err)
}

func TestClosedClient(t *testing.T) {
	s := startServer(t, nil)
	c := newClient(t, s.addr())
	c.Close()
	require.ErrorIs(t, c.ActiveTest(ctx(t), s.addr()), errClosed)
}

func BenchmarkActiveTestPooled(b *testing.B) {
	s := startServer(b, nil)
	c, err := New(&conf.Client{TrackerServers: []string{s.addr()}})
	require.NoError(b, err)
	defer c.Close()
	cx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.ActiveTest(cx, s.addr()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A reader shorter than the announced size is the caller's error,
// ErrUnexpectedEOF, even when it has nothing at all; nothing is sent.
func TestUploadShortReader(t *testing.T) {
	s := startServer(t, nil)
	c := newClient(t, s.addr())
	for _, body := range []string{"", "abc"} {
		_, err := c.UploadTo(ctx(t), s.addr(), -1, strings.NewReader(body), 10, "txt")
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "%q", body)
	}
}
