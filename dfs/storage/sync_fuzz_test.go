package storage

import (
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"yunpan/dfs/proto"
)

// FuzzMark: a mark file either loads with a sane position or is refused,
// and what loads encodes back to an equal mark.
func FuzzMark(f *testing.F) {
	f.Add([]byte("binlog_index=0\nbinlog_offset=936\nneed_sync_old=1\nsync_old_done=1\nuntil_timestamp=1795622726\nscan_row_count=15\nsync_row_count=13\n"))
	f.Add([]byte("binlog_index=-1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMark(data)
		if err != nil {
			return
		}
		if m.BinlogIndex < 0 || m.BinlogOffset < 0 {
			t.Fatalf("bad position accepted: %+v", m)
		}
		m2, err := decodeMark(m.encode())
		if err != nil || *m2 != *m {
			t.Fatalf("round trip: %+v → %+v (%v)", m, m2, err)
		}
	})
}

// FuzzSyncRequest sends arbitrary replication requests (after a
// REPORT_SERVER_ID, as a peer does) through the real accept path: no
// panic, no hang, a well-formed answer or a close, and nothing written
// outside the data trees.
func FuzzSyncRequest(f *testing.F) {
	const remote = "M00/01/00/fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt"
	for _, c := range []struct {
		cmd  byte
		st   byte
		body []byte
	}{
		{proto.CmdSyncCreateFile, 0, (&proto.Buf{}).I64(int64(len(remote))).I64(3).I32(7).Fixed("group1", 16).String(remote).String("abc").B},
		{proto.CmdSyncUpdateFile, 17, (&proto.Buf{}).I64(int64(len(remote))).I64(3).I32(7).Fixed("group1", 16).String(remote).B},
		{proto.CmdSyncDeleteFile, 0, (&proto.Buf{}).I32(7).Fixed("group1", 16).String(remote).B},
		{proto.CmdSyncAppendFile, 0, (&proto.Buf{}).I64(int64(len(remote))).I64(0).I64(2).I32(7).Fixed("group1", 16).String(remote).String("xy").B},
		{proto.CmdSyncModifyFile, 0, (&proto.Buf{}).I64(int64(len(remote))).I64(1).I64(1).I32(7).Fixed("group1", 16).String(remote).String("z").B},
		{proto.CmdSyncTruncateFile, 0, (&proto.Buf{}).I64(int64(len(remote))).I64(3).I64(1).I32(7).Fixed("group1", 16).String(remote).B},
		{proto.CmdSyncCreateLink, 0, (&proto.Buf{}).I64(int64(len(remote)+3)).I64(int64(len(remote))).I32(7).Fixed("group1", 16).String(remote + "_s1").String(remote).B},
		{proto.CmdSyncRenameFile, 0, (&proto.Buf{}).I64(int64(len(remote)+1)).I64(int64(len(remote))).I32(7).Fixed("group1", 16).String(remote + "x").String(remote).B},
		{proto.CmdSyncCreateFile, 0, (&proto.Buf{}).I64(9).I64(0).I32(7).Fixed("group1", 16).String("M00/00/0.").B},
		{proto.CmdClusterAuth, 0, make([]byte, proto.ClusterAuthSize)},
	} {
		f.Add(c.cmd, c.st, c.body)
	}
	o := testOpts(f)
	o.StorePaths = append(o.StorePaths, filepath.Join(o.BasePath, "store1"))
	o.StorePathReadonly = []bool{false, false}
	o.SubdirCountPerPath = 2
	o.NetworkTimeout = 2 * time.Second
	o.BuffSize = 64 << 10
	s := start(f, o)
	hello := (&proto.Buf{}).Fixed("127.0.0.9", 16).B

	f.Fuzz(func(t *testing.T, cmd, status byte, body []byte) {
		cli, srv := net.Pipe()
		defer cli.Close()
		s.accept(srv)
		cli.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			proto.WritePacket(cli, proto.CmdStorageReportServerID, 0, hello)
			proto.WritePacket(cli, cmd, status, body)
		}()
		for i := 0; i < 2; i++ {
			h, err := proto.ReadHeader(cli)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("no answer and connection still open")
				}
				break
			}
			if h.Cmd != proto.CmdResp || h.Status != 0 && h.PkgLen != 0 || h.PkgLen > 64<<20 {
				t.Fatalf("bad answer %+v", h)
			}
			if _, err := io.CopyN(io.Discard, cli, h.PkgLen); err != nil {
				t.Fatalf("answer body: %v", err)
			}
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
