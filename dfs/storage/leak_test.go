package storage

import (
	"bytes"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/internal/leakcheck"
	"yunpan/dfs/proto"
)

// Goroutines and descriptors return to their baseline after a load and
// Exit: no leaks.

// leakLoad runs workers×rounds uploads, downloads and deletes on fresh and
// reused connections.
func leakLoad(t *testing.T, s *Storage, workers, rounds int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := range rounds {
				if i%5 == 4 { // sometimes a fresh connection
					c.Close()
					if c, err = net.DialTimeout("tcp", s.Addr().String(), 5*time.Second); err != nil {
						errs <- err
						return
					}
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				data := make([]byte, 1+(w*rounds+i)*997%(300<<10))
				rand.Read(data)
				if err := leakRoundTrip(c, data); err != nil {
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
}

// leakRoundTrip uploads data, downloads it, checks it and deletes it.
func leakRoundTrip(c net.Conn, data []byte) error {
	if err := proto.WritePacket(c, proto.CmdUploadFile, 0, uploadBody(0, "bin", data)); err != nil {
		return err
	}
	b, err := proto.ReadResponse(c, 1024)
	if err != nil {
		return err
	}
	remote := string(b[16:])
	if err := proto.WritePacket(c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0)); err != nil {
		return err
	}
	got, err := proto.ReadResponse(c, int64(len(data)))
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return proto.Errf(proto.StatusEIO, "download of %s differs", remote)
	}
	if err := proto.WritePacket(c, proto.CmdDeleteFile, 0, groupBody("group1", remote)); err != nil {
		return err
	}
	_, err = proto.ReadResponse(c, 0)
	return err
}

func TestNoLeakAfterLoadAndExit(t *testing.T) {
	leakcheck.Watch(t) // first: checked after the storage's Exit below
	s := start(t, testOpts(t))
	leakLoad(t, s, 8, 25)
	// Connections the storage still holds at Exit: idle, half a header,
	// half an upload body.
	dial(t, s)
	half := dial(t, s)
	_, err := half.Write([]byte{0, 0, 0})
	require.NoError(t, err)
	partial := dial(t, s)
	body := uploadBody(0, "bin", make([]byte, 1<<20))
	hdr := make([]byte, proto.HeaderSize)
	proto.Header{PkgLen: int64(len(body)), Cmd: proto.CmdUploadFile}.Encode(hdr)
	_, err = partial.Write(append(hdr, body[:len(body)/2]...))
	require.NoError(t, err)
	// The upload is in progress: its temp file is open.
	waitFor(t, 5*time.Second, "upload in progress", func() bool { return uploadsOpen(t, s.paths[0]) == 1 })
	activeOK(t, s)
}

// After Exit with an upload in progress nothing is left in the temp dir
// and nothing half-written is visible.
func TestExitDuringUploadLeavesNothing(t *testing.T) {
	leakcheck.Watch(t)
	o := testOpts(t)
	s, err := New(o, testLogger(t))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Main() }()
	c := dial(t, s)
	body := uploadBody(0, "bin", make([]byte, 1<<20))
	hdr := make([]byte, proto.HeaderSize)
	proto.Header{PkgLen: int64(len(body)), Cmd: proto.CmdUploadFile}.Encode(hdr)
	_, err = c.Write(append(hdr, body[:len(body)/3]...))
	require.NoError(t, err)
	tmp := filepath.Join(s.paths[0].dataDir, ".tmp")
	waitFor(t, 5*time.Second, "upload in progress", func() bool { return uploadsOpen(t, s.paths[0]) == 1 })
	s.Exit()
	require.NoError(t, <-done)
	require.Zero(t, uploadsOpen(t, s.paths[0]))
	require.Empty(t, regularFiles(t, tmp))
	require.Empty(t, storeFiles(t, s, 0))
	c.Close()
}

// uploadsOpen counts the files uploads are writing on sp: named temp files
// in its temp area, or unnamed ones (tmpfile.go), which this process holds
// open and /proc shows as "<dir>/#<inode> (deleted)".
func uploadsOpen(t testing.TB, sp *storePath) int {
	t.Helper()
	n := len(regularFiles(t, filepath.Join(sp.dataDir, ".tmp")))
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, sp.dataDir+"/") && strings.HasSuffix(target, " (deleted)") &&
			strings.HasPrefix(filepath.Base(strings.TrimSuffix(target, " (deleted)")), "#") {
			n++
		}
	}
	return n
}
