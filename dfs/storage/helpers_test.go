package storage

import (
	"bufio"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/proto"
)

// closedAddr is a loopback address nobody listens on.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	a := ln.Addr().String()
	ln.Close()
	return a
}

// testOpts is a small storage: group1 on 127.0.0.1, port 0, one store path
// with 4×4 sub directories, a tracker that is not there.
func testOpts(t testing.TB) *conf.Storage {
	o := conf.DefaultStorage()
	base := t.TempDir()
	o.GroupName = "group1"
	o.BindAddr = "127.0.0.1"
	o.Port = 0
	o.BasePath = base
	o.StorePaths = []string{filepath.Join(base, "store0")}
	o.StorePathReadonly = []bool{false}
	o.SubdirCountPerPath = 4
	o.TrackerServers = []string{closedAddr(t)}
	o.NetworkTimeout = 5 * time.Second
	o.ConnectTimeout = time.Second
	o.HeartBeatInterval = time.Second
	o.StatReportInterval = time.Second
	o.SyncBinlogBuffInterval = time.Second
	o.SyncStatFileInterval = time.Second
	return o
}

func testLogger(t testing.TB) zerolog.Logger {
	if os.Getenv("STORAGE_TEST_LOG") != "" {
		return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Logger()
	}
	return zerolog.Nop()
}

// start runs a storage until the test ends.
func start(t testing.TB, o *conf.Storage) *Storage {
	t.Helper()
	s, err := New(o, testLogger(t))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Main() }()
	t.Cleanup(func() {
		s.Exit()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Main did not return after Exit")
		}
	})
	return s
}

// startStoppable runs a storage the test stops itself (to start it again
// on the same paths); stop waits for Main to return.
func startStoppable(t testing.TB, o *conf.Storage) (s *Storage, stop func()) {
	t.Helper()
	s, err := New(o, testLogger(t))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Main() }()
	return s, func() {
		s.Exit()
		require.NoError(t, <-done)
	}
}

// dial connects a client to s.
func dial(t testing.TB, s *Storage) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// roundTrip sends one request and reads the answer header and body.
func roundTrip(t testing.TB, c net.Conn, cmd, status byte, body []byte) (proto.Header, []byte) {
	t.Helper()
	require.NoError(t, proto.WritePacket(c, cmd, status, body))
	return readAnswer(t, c)
}

func readAnswer(t testing.TB, c net.Conn) (proto.Header, []byte) {
	t.Helper()
	h, err := proto.ReadHeader(c)
	require.NoError(t, err)
	require.Equal(t, byte(proto.CmdResp), h.Cmd)
	b := make([]byte, h.PkgLen)
	_, err = io.ReadFull(c, b)
	require.NoError(t, err)
	return h, b
}

// requireClosed checks that the server closed c (EOF with nothing more).
func requireClosed(t testing.TB, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	n, err := c.Read(b[:])
	require.Equal(t, 0, n)
	require.Error(t, err)
	var ne net.Error
	if e, ok := err.(net.Error); ok {
		ne = e
		require.False(t, ne.Timeout(), "connection still open")
	}
}

func uploadBody(idx int8, ext string, data []byte) []byte {
	w := &proto.Buf{}
	w.U8(byte(idx)).I64(int64(len(data))).Fixed(ext, proto.ExtLen).Bytes(data)
	return w.B
}

// upload stores data and returns the remote filename.
func upload(t testing.TB, c net.Conn, idx int8, ext string, data []byte) string {
	t.Helper()
	h, b := roundTrip(t, c, proto.CmdUploadFile, 0, uploadBody(idx, ext, data))
	require.Equal(t, byte(0), h.Status)
	require.Len(t, b, 16+44)
	require.Equal(t, "group1", proto.Fixed(b[:16]))
	return string(b[16:])
}

func downloadBody(group, remote string, off, n int64) []byte {
	return (&proto.Buf{}).I64(off).I64(n).Fixed(group, 16).String(remote).B
}

func groupBody(group, remote string) []byte {
	return (&proto.Buf{}).Fixed(group, 16).String(remote).B
}

func setMetaBody(group, remote string, flag byte, meta []byte) []byte {
	return (&proto.Buf{}).I64(int64(len(remote))).I64(int64(len(meta))).U8(flag).
		Fixed(group, 16).String(remote).Bytes(meta).B
}

// binlogLines flushes and reads binlog.000.
func binlogLines(t testing.TB, s *Storage) []string {
	t.Helper()
	require.NoError(t, s.binlog.Flush())
	f, err := os.Open(filepath.Join(s.dataDir, "sync", "binlog.000"))
	require.NoError(t, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	require.NoError(t, sc.Err())
	return out
}

// regularFiles lists the regular files under dir whose names are not in
// skip (relative paths).
func regularFiles(t testing.TB, dir string, skip ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		for _, s := range skip {
			if rel == s {
				return nil
			}
		}
		out = append(out, rel)
		return nil
	})
	require.NoError(t, err)
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// activeOK checks that a fresh connection is served.
func activeOK(t testing.TB, s *Storage) {
	t.Helper()
	c := dial(t, s)
	h, b := roundTrip(t, c, proto.CmdActiveTest, 0, nil)
	require.Equal(t, byte(0), h.Status)
	require.Empty(t, b)
	c.Close()
}

func storeFiles(t testing.TB, s *Storage, i int) []string {
	return regularFiles(t, s.paths[i].dataDir, subdirMarker)
}

func hasPrefix(s, p string) bool { return strings.HasPrefix(s, p) }
