package storage

import (
	"io"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"yunpan/dfs/proto"
	"yunpan/internal/vectors"
)

// FuzzStorageRequest sends arbitrary (cmd, status, body) requests through
// the real accept path over a net.Pipe. The server must not panic or hang,
// must answer with a well-formed header (or close), and must never create a
// file outside its own data trees.
func FuzzStorageRequest(f *testing.F) {
	const remote = "M00/00/01/fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt"
	for _, name := range []string{"01", "02", "03", "05", "06", "07", "13", "14"} {
		sc, err := vectors.Load(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, c := range sc.Conns {
			for _, p := range c.Packets {
				if p.FromClient {
					f.Add(p.Header.Cmd, p.Header.Status, p.Body)
				}
			}
		}
	}
	f.Add(byte(proto.CmdSetMetadata), byte(0), setMetaBody("group1", remote, 'M', []byte("a\x021\x01b")))
	f.Add(byte(proto.CmdGetMetadata), byte(0), groupBody("group1", remote))
	f.Add(byte(proto.CmdQueryFileInfo), byte(3), groupBody("group1", remote))
	f.Add(byte(proto.CmdUploadAppenderFile), byte(0), uploadBody(1, "log", []byte("x")))
	f.Add(byte(proto.CmdUploadFile), byte(0), uploadBody(-1, "", nil))
	f.Add(byte(proto.CmdDeleteFile), byte(0), groupBody("group1", "M00/00/00/../../../../etc/passwd"))

	o := testOpts(f)
	o.StorePaths = append(o.StorePaths, filepath.Join(o.BasePath, "store1"))
	o.StorePathReadonly = []bool{false, false}
	o.SubdirCountPerPath = 2
	o.NetworkTimeout = 2 * time.Second
	o.BuffSize = 64 << 10
	s := start(f, o)

	f.Fuzz(func(t *testing.T, cmd, status byte, body []byte) {
		cli, srv := net.Pipe()
		defer cli.Close()
		s.accept(srv)
		cli.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			proto.WritePacket(cli, cmd, status, body)
		}()
		if h, err := proto.ReadHeader(cli); err == nil {
			if h.Cmd != proto.CmdResp {
				t.Fatalf("answer cmd %d", h.Cmd)
			}
			if h.Status != 0 && h.PkgLen != 0 {
				t.Fatalf("status %d with a %d-byte body", h.Status, h.PkgLen)
			}
			if h.PkgLen > 64<<20 {
				t.Fatalf("answer of %d bytes", h.PkgLen)
			}
			if _, err := io.CopyN(io.Discard, cli, h.PkgLen); err != nil {
				t.Fatalf("answer body: %v", err)
			}
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("no answer and connection still open")
		}
		cli.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			s.mu.Lock()
			n := len(s.conns)
			s.mu.Unlock()
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("connection still served after close")
			}
			time.Sleep(time.Millisecond)
		}
		if n := s.panics.Load(); n != 0 {
			t.Fatalf("%d handler panics", n)
		}
		checkTree(t, o.BasePath)
	})
}

// checkTree fails if base holds a regular file that is not one of ours:
// the state files in data/, the binlog in data/sync, the trunk binlog a
// trunk server pushes (TRUNK_SYNC_BINLOG), and data files (no leftover
// temp files) in the store paths' HH/HH directories.
func checkTree(t *testing.T, base string) {
	t.Helper()
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == "data/.data_init_flag", rel == "data/storage_stat.dat",
			rel == "data/sync/binlog_index.dat", strings.HasPrefix(rel, "data/sync/binlog."),
			rel == "data/trunk/binlog",
			strings.HasPrefix(rel, "data/.w-"): // storage_stat.dat being rewritten
		case strings.HasPrefix(rel, "store0/data/") || strings.HasPrefix(rel, "store1/data/"):
			parts := strings.Split(rel, "/")
			if len(parts) == 3 && parts[2] == subdirMarker {
				break
			}
			if len(parts) != 5 || strings.HasPrefix(parts[4], ".") {
				t.Fatalf("unexpected file %s", rel)
			}
		default:
			t.Fatalf("file outside the store: %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
