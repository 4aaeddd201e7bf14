package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/client/clienttest"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/internal/vectors"
)

// The appender file of scenarios 08–10.
const appenderID = "group1/M00/0B/00/fwAAAWsG8PGEbDYcAAAAAD1Q9pE766.txt"

func TestScenario09Append(t *testing.T) {
	sc := load(t, "09")
	t.Run("buffer", func(t *testing.T) {
		srv := clienttest.Start(t, sc)
		c := newClient(t, srv.TrackerAddr())
		require.NoError(t, c.AppendBuffer(ctx(t), appenderID, []byte("appended part\n")))
	})
	t.Run("file", func(t *testing.T) {
		srv := clienttest.Start(t, sc)
		c := newClient(t, srv.TrackerAddr())
		p := filepath.Join(t.TempDir(), "tail.txt")
		require.NoError(t, os.WriteFile(p, []byte("appended part\n"), 0o644))
		require.NoError(t, c.AppendFile(ctx(t), appenderID, p))
	})
}

func TestScenario10Regenerate(t *testing.T) {
	sc := load(t, "10")
	srv := clienttest.Start(t, sc)
	c := newClient(t, srv.TrackerAddr())
	id, err := c.RegenerateAppenderFilename(ctx(t), appenderID)
	require.NoError(t, err)
	require.Equal(t, sc.Output[0], id)
	_, remote, _ := fileid.Split(id)
	_, kind, err := fileid.Decode(remote)
	require.NoError(t, err)
	require.Equal(t, fileid.KindNormal, kind)
}

// updateThen is a hand-made capture: QUERY_UPDATE for appenderID (as
// captured in scenario 09), then one storage exchange.
func updateThen(t *testing.T, storage ...vectors.Packet) *vectors.Scenario {
	sc := load(t, "09")
	return &vectors.Scenario{Conns: []vectors.Conn{
		sc.Conns[0],
		{Server: "127.0.0.1:23000", Packets: storage},
	}}
}

func reqPkt(cmd byte, body []byte) vectors.Packet {
	return vectors.Packet{FromClient: true, Header: proto.Header{PkgLen: int64(len(body)), Cmd: cmd}, Body: body}
}

func respPkt(status byte, body []byte) vectors.Packet {
	return vectors.Packet{Header: proto.Header{PkgLen: int64(len(body)), Cmd: proto.CmdResp, Status: status}, Body: body}
}

const appenderRemote44 = "M00/0B/00/fwAAAWsG8PGEbDYcAAAAAD1Q9pE766.txt"

func TestModifyAndTruncateRequests(t *testing.T) {
	modify := (&proto.Buf{}).I64(44).I64(5).I64(3).String(appenderRemote44).String("abc").B
	truncate := (&proto.Buf{}).I64(44).I64(100).String(appenderRemote44).B
	t.Run("modify", func(t *testing.T) {
		srv := clienttest.Start(t, updateThen(t, reqPkt(proto.CmdModifyFile, modify), respPkt(0, nil)))
		c := newClient(t, srv.TrackerAddr())
		require.NoError(t, c.ModifyBuffer(ctx(t), appenderID, 5, []byte("abc")))
	})
	t.Run("modify file", func(t *testing.T) {
		srv := clienttest.Start(t, updateThen(t, reqPkt(proto.CmdModifyFile, modify), respPkt(0, nil)))
		c := newClient(t, srv.TrackerAddr())
		p := filepath.Join(t.TempDir(), "m")
		require.NoError(t, os.WriteFile(p, []byte("abc"), 0o644))
		require.NoError(t, c.ModifyFile(ctx(t), appenderID, 5, p))
	})
	t.Run("modify beyond the end: EINVAL, connection dropped", func(t *testing.T) {
		srv := clienttest.Start(t, updateThen(t, reqPkt(proto.CmdModifyFile, modify), respPkt(proto.StatusEINVAL, nil)))
		c := newClient(t, srv.TrackerAddr())
		err := c.ModifyBuffer(ctx(t), appenderID, 5, []byte("abc"))
		require.Equal(t, proto.StatusEINVAL, proto.StatusOf(err), "%v", err)
		require.Zero(t, c.pool.idleCount(srv.StorageAddr()))
	})
	t.Run("truncate", func(t *testing.T) {
		srv := clienttest.Start(t, updateThen(t, reqPkt(proto.CmdTruncateFile, truncate), respPkt(0, nil)))
		c := newClient(t, srv.TrackerAddr())
		require.NoError(t, c.TruncateFile(ctx(t), appenderID, 100))
	})
	t.Run("append to a missing file: ENOENT", func(t *testing.T) {
		body := (&proto.Buf{}).I64(44).I64(1).String(appenderRemote44).String("x").B
		srv := clienttest.Start(t, updateThen(t, reqPkt(proto.CmdAppendFile, body), respPkt(proto.StatusENOENT, nil)))
		c := newClient(t, srv.TrackerAddr())
		err := c.AppendBuffer(ctx(t), appenderID, []byte("x"))
		require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "%v", err)
		require.Equal(t, 1, c.pool.idleCount(srv.StorageAddr()), "a clean ENOENT keeps the connection")
	})
	t.Run("bad arguments never reach a server", func(t *testing.T) {
		srv := clienttest.Start(t, &vectors.Scenario{})
		c := newClient(t, srv.TrackerAddr())
		for _, err := range []error{
			c.ModifyBuffer(ctx(t), appenderID, -1, nil),
			c.TruncateFile(ctx(t), appenderID, -1),
			c.AppendBuffer(ctx(t), "group1/M00/00/00/short", nil),
			c.AppendBuffer(ctx(t), "nogroup", nil),
		} {
			require.Equal(t, proto.StatusEINVAL, proto.StatusOf(err), "%v", err)
		}
		_, err := c.RegenerateAppenderFilename(ctx(t), "group1/"+strings.Repeat("A", 130))
		require.Equal(t, proto.StatusEINVAL, proto.StatusOf(err))
		require.Zero(t, srv.Accepts(clienttest.Tracker)+srv.Accepts(clienttest.Storage))
	})
}

// TestScenario12UploadSlave: QUERY_UPDATE on the master, then
// UPLOAD_SLAVE_FILE and SET_METADATA on one storage connection, byte for
// byte as fdfs_test sent them.
func TestScenario12UploadSlave(t *testing.T) {
	sc := load(t, "12")
	tr := sc.Conns[0].Packets // 106, 101, 103, 111 (each with its answer)
	require.Equal(t, byte(proto.CmdQueryUpdate), tr[4].Header.Cmd)
	script := &vectors.Scenario{Conns: []vectors.Conn{
		{Server: sc.Conns[0].Server, Packets: tr[4:6]},
		sc.Conns[2],
	}}
	meta := []proto.Meta{{Name: "ext_name", Value: "jpg"}, {Name: "width", Value: "160"},
		{Name: "height", Value: "80"}, {Name: "file_size", Value: "115120"}}
	const master = "group1/M00/0B/00/fwAAAWsG8PeAULFrAAABLBtDLRM052.txt"
	t.Run("with metadata", func(t *testing.T) {
		srv := clienttest.Start(t, script)
		c := newClient(t, srv.TrackerAddr())
		id, err := c.UploadSlaveWith(ctx(t), master, "_big", "txt", strings.NewReader(strings.Repeat("x", 300)), 300, meta)
		require.NoError(t, err)
		require.Equal(t, "group1/M00/0B/00/fwAAAWsG8PeAULFrAAABLBtDLRM052_big.txt", id)
		want, err := fileid.SlaveRemote(master[7:], "_big", "txt")
		require.NoError(t, err)
		require.Equal(t, "group1/"+want, id)
	})
	t.Run("exists: EEXIST", func(t *testing.T) {
		req := sc.Conns[2].Packets[0]
		srv := clienttest.Start(t, &vectors.Scenario{Conns: []vectors.Conn{
			{Server: sc.Conns[0].Server, Packets: tr[4:6]},
			{Server: "127.0.0.1:23000", Packets: []vectors.Packet{req, respPkt(proto.StatusEEXIST, nil)}},
		}})
		c := newClient(t, srv.TrackerAddr())
		p := filepath.Join(t.TempDir(), "slave.txt")
		require.NoError(t, os.WriteFile(p, []byte(strings.Repeat("x", 300)), 0o644))
		_, err := c.UploadSlaveFile(ctx(t), master, "_big", p, "")
		require.Equal(t, proto.StatusEEXIST, proto.StatusOf(err), "%v", err)
	})
	t.Run("bad prefix never reaches a server", func(t *testing.T) {
		srv := clienttest.Start(t, &vectors.Scenario{})
		c := newClient(t, srv.TrackerAddr())
		for _, prefix := range []string{"", "a/b", strings.Repeat("p", 17)} {
			_, err := c.UploadSlaveBuffer(ctx(t), master, prefix, "txt", []byte("x"))
			require.Equal(t, proto.StatusEINVAL, proto.StatusOf(err), "prefix %q: %v", prefix, err)
		}
		require.Zero(t, srv.Accepts(clienttest.Tracker))
	})
}
