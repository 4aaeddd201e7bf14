package storage

import (
	"bytes"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/internal/vectors"
)

// storageConns returns the scenario's connections to the storage.
func storageConns(t *testing.T, name string) []vectors.Conn {
	t.Helper()
	sc, err := vectors.Load(name)
	require.NoError(t, err)
	var out []vectors.Conn
	for _, c := range sc.Conns {
		if strings.HasSuffix(c.Server, ":23000") && len(c.Packets) > 0 && c.Packets[0].Header.Cmd != proto.CmdStorageJoin {
			out = append(out, c)
		}
	}
	return out
}

// replayConn sends each captured client packet of conn on c, with captured
// names replaced (same lengths), and checks each answer's status and
// length against the capture. It returns the answer bodies.
func replayConn(t *testing.T, c net.Conn, conn vectors.Conn, repl map[string]string) [][]byte {
	t.Helper()
	var out [][]byte
	ps := conn.Packets
	for i := 0; i < len(ps); i += 2 {
		req, want := ps[i], ps[i+1]
		require.True(t, req.FromClient)
		require.False(t, want.FromClient)
		body := req.Body
		for from, to := range repl {
			require.Len(t, to, len(from))
			body = bytes.ReplaceAll(body, []byte(from), []byte(to))
		}
		h, b := roundTrip(t, c, req.Header.Cmd, req.Header.Status, body)
		require.Equal(t, want.Header.Status, h.Status, "cmd %d", req.Header.Cmd)
		require.Equal(t, want.Header.PkgLen, h.PkgLen, "cmd %d", req.Header.Cmd)
		out = append(out, b)
	}
	return out
}

var txtNameRe = regexp.MustCompile(`^M00/0[0-3]/0[0-3]/[A-Za-z0-9_-]{27}[0-9]{3}\.txt$`)

// TestVectorAppender replays scenarios 08 (upload appender), 09 (append)
// and 10 (regenerate) against the storage.
func TestVectorAppender(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)

	cs := storageConns(t, "08")
	require.Len(t, cs, 1)
	captured := string(cs[0].Packets[1].Body[16:])
	b := replayConn(t, c, cs[0], nil)
	remote := string(b[0][16:])
	require.Equal(t, cs[0].Packets[1].Body[:16], b[0][:16])
	require.Regexp(t, txtNameRe, remote)
	_, kind, err := fileid.Decode(remote)
	require.NoError(t, err)
	require.Equal(t, fileid.KindAppender, kind)

	cs = storageConns(t, "09")
	require.Len(t, cs, 1)
	replayConn(t, c, cs[0], map[string]string{captured: remote})
	require.Equal(t, "hello yunpan\nappended part\n", string(content(t, s, remote)))

	cs = storageConns(t, "10")
	require.Len(t, cs, 1)
	b = replayConn(t, c, cs[0], map[string]string{captured: remote})
	nu := string(b[0][16:])
	require.Regexp(t, txtNameRe, nu)
	require.Equal(t, remote[:10], nu[:10])
	require.Equal(t, remote[37:], nu[37:])
	info, kind, err := fileid.Decode(nu)
	require.NoError(t, err)
	require.Equal(t, fileid.KindNormal, kind)
	// The capture's new name carries size 27 too.
	capInfo, _, err := fileid.Decode(string(cs[0].Packets[1].Body[16:]))
	require.NoError(t, err)
	require.Equal(t, capInfo.Size(), info.Size())
	require.Equal(t, int64(27), info.Size())
}

// TestVectorFdfsTestUpload replays scenario 12's storage side: upload with
// metadata and ACTIVE_TEST on one connection, the `_big` slave with its
// metadata on a second, QUERY_FILE_INFO of the slave on a third.
func TestVectorFdfsTestUpload(t *testing.T) {
	s := start(t, testOpts(t))
	cs := storageConns(t, "12")
	require.Len(t, cs, 3)

	// The captured master name minus ".txt" is also the start of the
	// slave's name: replacing it covers both.
	capMaster := string(cs[0].Packets[1].Body[16:])
	capBase := strings.TrimSuffix(capMaster, ".txt")
	c := dial(t, s)
	// Upload first, to learn our name.
	h, b := roundTrip(t, c, cs[0].Packets[0].Header.Cmd, 0, cs[0].Packets[0].Body)
	require.Equal(t, cs[0].Packets[1].Header, h)
	master := string(b[16:])
	require.Regexp(t, txtNameRe, master)
	repl := map[string]string{capBase: strings.TrimSuffix(master, ".txt")}
	replayConn(t, c, vectors.Conn{Packets: cs[0].Packets[2:]}, repl)

	out := replayConn(t, dial(t, s), cs[1], repl)
	slave := string(out[0][16:])
	require.Equal(t, strings.TrimSuffix(master, ".txt")+"_big.txt", slave)

	out = replayConn(t, dial(t, s), cs[2], repl)
	r := &proto.Reader{B: out[0]}
	require.Equal(t, int64(300), r.I64())
	require.Positive(t, r.I64())
	require.Equal(t, int64(int32(0x1b432d13)), r.I64())
	require.Equal(t, "127.0.0.1", r.Fixed(16))

	h, b = roundTrip(t, c, proto.CmdGetMetadata, 0, groupBody("group1", slave))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, "ext_name\x02jpg\x01file_size\x02115120\x01height\x0280\x01width\x02160", string(b))
}
