package quickack

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestQuickAckOncePerRequest checks the cost: a request whose body is sent
// apart from its header sets TCP_QUICKACK at most once, and reads still
// return the bytes in order, then EOF.
func TestQuickAckOncePerRequest(t *testing.T) {
	cli, srv := tcpPair(t)
	require.NoError(t, cli.(*net.TCPConn).SetNoDelay(false))
	r := New(srv)
	require.NotNil(t, r.rc)
	const requests = 20
	for i := range requests {
		srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := cli.Write([]byte{byte(i)})
		require.NoError(t, err)
		var head [1]byte
		_, err = io.ReadFull(srv, head[:])
		require.NoError(t, err)
		r.Next()
		go cli.Write([]byte("body"))
		var body [4]byte
		_, err = io.ReadFull(r, body[:])
		require.NoError(t, err)
		require.Equal(t, "body", string(body[:]))
		_, err = srv.Write([]byte{1}) // the answer: Linux delays ACKs again
		require.NoError(t, err)
		_, err = io.ReadFull(cli, head[:])
		require.NoError(t, err)
	}
	require.LessOrEqual(t, r.Sets, requests)
	cli.Close()
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := r.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	srv.SetReadDeadline(time.Now().Add(-time.Second))
	_, err = r.Read(make([]byte, 1))
	require.Error(t, err)
}

// TestReadAllocatesNothing: reading a kept connection costs no garbage (a
// closure per read would, and on a tracker answering tens of thousands of
// queries a second that garbage is most of its heap).
func TestReadAllocatesNothing(t *testing.T) {
	cli, srv := tcpPair(t)
	r := New(srv)
	buf := make([]byte, 64)
	_, err := cli.Write(make([]byte, 64*200))
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

// tcpPair is a connected loopback TCP pair, closed when the test ends.
func tcpPair(t *testing.T) (cli, srv net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cli, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	srv, err = ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return cli, srv
}
