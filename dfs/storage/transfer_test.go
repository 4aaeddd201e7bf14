package storage

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/proto"
)

// guardOpts is a storage whose network_timeout (5 s) is far longer than the
// rate guard's grace, so a close within the test's bounds is the guard's.
func guardOpts(t *testing.T, rate int64, grace time.Duration) *conf.Storage {
	o := testOpts(t)
	o.Transfer = conf.Transfer{MinRate: rate, Grace: grace}
	return o
}

// trickle writes data in pieces of n bytes every d; it stops at the first
// write error (the server closed) and returns it.
func trickle(c net.Conn, data []byte, n int, d time.Duration) error {
	for len(data) > 0 {
		k := min(n, len(data))
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(data[:k]); err != nil {
			return err
		}
		data = data[k:]
		time.Sleep(d)
	}
	return nil
}

// uploadHead is an UPLOAD_FILE header and fixed part announcing size bytes.
func uploadHead(size int64) []byte {
	w := &proto.Buf{B: make([]byte, proto.HeaderSize)}
	proto.Header{PkgLen: 1 + 8 + proto.ExtLen + size, Cmd: proto.CmdUploadFile}.Encode(w.B)
	w.U8(0).I64(size).Fixed("bin", proto.ExtLen)
	return w.B
}

func TestRateGuardSlowBodyClosed(t *testing.T) {
	s := start(t, guardOpts(t, 1024, 500*time.Millisecond))
	c := dial(t, s)
	_, err := c.Write(uploadHead(64 << 10))
	require.NoError(t, err)
	t0 := time.Now()
	// 10 bytes/s, far below 1 KiB/s, but a byte well within every
	// network_timeout: only the rate guard ends it.
	errc := make(chan error, 1)
	go func() { errc <- trickle(c, bytes.Repeat([]byte{'x'}, 64<<10), 1, 100*time.Millisecond) }()
	requireClosed(t, c)
	el := time.Since(t0)
	require.GreaterOrEqual(t, el, 400*time.Millisecond, "closed before the grace")
	require.Less(t, el, 3*time.Second, "closed by network_timeout, not the guard")
	c.Close()
	<-errc
	require.Equal(t, int64(1), s.slowCut.Load())
	waitFor(t, 5*time.Second, "connection released", func() bool { return s.stats.connCurrent.Load() == 0 })
	require.Empty(t, regularFiles(t, s.paths[0].dataDir, ".subdirs_done"), "a stored file from the aborted upload")
}

func TestRateGuardSlowButAboveMinimumSucceeds(t *testing.T) {
	s := start(t, guardOpts(t, 1024, 300*time.Millisecond))
	c := dial(t, s)
	data := make([]byte, 6<<10)
	rand.Read(data)
	_, err := c.Write(uploadHead(int64(len(data))))
	require.NoError(t, err)
	// ~4 KiB/s for 1.5 s: slow, with pauses of 125 ms, but above the minimum.
	require.NoError(t, trickle(c, data, 512, 125*time.Millisecond))
	h, b := readAnswer(t, c)
	require.Equal(t, byte(0), h.Status)
	remote := string(b[16:])

	h, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, data, got)

	require.Zero(t, s.slowCut.Load())
}

// A download read slowly (~512 KiB/s, in pauses) but above the minimum
// completes.
func TestRateGuardSlowDownloadAboveMinimumSucceeds(t *testing.T) {
	s := start(t, guardOpts(t, 64<<10, 300*time.Millisecond))
	c := dial(t, s)
	big := make([]byte, 1<<20)
	rand.Read(big)
	remote := upload(t, c, 0, "bin", big)
	require.NoError(t, proto.WritePacket(c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0)))
	hd, err := proto.ReadHeader(c)
	require.NoError(t, err)
	require.Equal(t, int64(len(big)), hd.PkgLen)
	var buf bytes.Buffer
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for buf.Len() < len(big) { // ~512 KiB/s
		_, err := io.CopyN(&buf, c, min(32<<10, int64(len(big)-buf.Len())))
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, big, buf.Bytes())
	require.Zero(t, s.slowCut.Load())
}

func TestRateGuardStalledDownloadClosed(t *testing.T) {
	// The file is stored by a storage without the guard (a loaded machine
	// must not cut the upload), then served by one on the same base path
	// with 4 MiB/s: what the kernel buffers hold before the reader stalls
	// (a few MiB) is drained below the minimum within about a second.
	o := guardOpts(t, 0, 0)
	s := start(t, o)
	big := make([]byte, 16<<20)
	rand.Read(big)
	remote := upload(t, dial(t, s), 0, "bin", big)
	s.Exit()
	o2 := *o
	o2.Transfer = conf.Transfer{MinRate: 4 << 20, Grace: 300 * time.Millisecond}
	s = start(t, &o2)

	// A reader with a small receive buffer that reads the header and stops.
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
	}}
	c, err := d.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	require.NoError(t, proto.WritePacket(c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0)))
	_, err = proto.ReadHeader(c)
	require.NoError(t, err)
	t0 := time.Now()
	waitFor(t, 4*time.Second, "stalled download cut by the rate guard", func() bool { return s.slowCut.Load() == 1 })
	require.Greater(t, time.Since(t0), 250*time.Millisecond, "cut before the grace")
	t.Logf("stalled reader cut after %v", time.Since(t0))
	waitFor(t, 2*time.Second, "connection released", func() bool { return s.stats.connCurrent.Load() == 0 })
	// The stream ends short of the announced length: the reader sees EOF.
	_, err = io.Copy(io.Discard, c)
	require.NoError(t, err)
}

// Time the server spends on its own (here: an append waiting for the file's
// writer lock, held by another writer past the grace) does not count
// against a client that sent its body at once.
func TestRateGuardServerWaitNotCounted(t *testing.T) {
	s := start(t, guardOpts(t, 1<<20, 300*time.Millisecond))
	c := dial(t, s)
	remote := uploadAppender(t, c, []byte("head "))
	unlock := s.LockAppender(remote)
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB
	require.NoError(t, proto.WritePacket(c, proto.CmdAppendFile, 0, appendBody(remote, data)))
	time.Sleep(time.Second) // > grace, and 64 KiB at 1 MiB/s would take 62 ms
	unlock()
	h, _ := readAnswer(t, c)
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, append([]byte("head "), data...), content(t, s, remote))
	require.Zero(t, s.slowCut.Load())
}
