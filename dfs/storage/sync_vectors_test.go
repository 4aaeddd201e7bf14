package storage

import (
	"bytes"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
	"yunpan/internal/vectors"
)

// vector 20: a second storage (127.0.0.3:23000) joins a group whose member
// 127.0.0.1:23000 holds files; 127.0.0.1 pushes the old data.

// v20Conns returns the scenario's connections from client prefix to server.
func v20Conns(t *testing.T, client, server string) []vectors.Conn {
	t.Helper()
	sc, err := vectors.Load("20")
	require.NoError(t, err)
	var out []vectors.Conn
	for _, c := range sc.Conns {
		if strings.HasPrefix(c.Client, client) && c.Server == server {
			out = append(out, c)
		}
	}
	return out
}

// v20Requests are the captured requests of cmd sent by client to server.
func v20Requests(t *testing.T, client, server string, cmd byte) []vectors.Packet {
	var out []vectors.Packet
	for _, c := range v20Conns(t, client, server) {
		for _, p := range c.Packets {
			if p.FromClient && p.Header.Cmd == cmd {
				out = append(out, p)
			}
		}
	}
	return out
}

// TestVector20SyncReceive replays the source's captured sync connections
// into our storage (which plays 127.0.0.3): REPORT_SERVER_ID, SYNC_DELETE of
// files it never had (ENOENT), SYNC_CREATE (group fields with garbage after
// the NUL), SYNC_RENAME of a missing file (ENOENT) and the create that
// follows. Every answer must have the captured status and length; the
// files land with the source's timestamps and lower-case binlog records.
func TestVector20SyncReceive(t *testing.T) {
	o := testOpts(t)
	o.SubdirCountPerPath = 16 // the captured names use 0B/00
	s := start(t, o)
	conns := v20Conns(t, "127.0.0.1:", "127.0.0.3:23000")
	require.Len(t, conns, 2)
	var created []string
	for _, vc := range conns {
		c := dial(t, s)
		for i := 0; i+1 < len(vc.Packets); i += 2 {
			req, want := vc.Packets[i], vc.Packets[i+1]
			require.True(t, req.FromClient)
			h, b := roundTrip(t, c, req.Header.Cmd, req.Header.Status, req.Body)
			require.Equal(t, want.Header.Status, h.Status, "cmd %d answer", req.Header.Cmd)
			require.Equal(t, want.Header.PkgLen, h.PkgLen)
			require.Empty(t, b)
			if req.Header.Cmd == proto.CmdSyncCreateFile {
				rd := &proto.Reader{B: req.Body}
				n, size, ts := rd.I64(), rd.I64(), int64(rd.I32())
				rd.Fixed(16)
				name := string(rd.Raw(int(n)))
				data := rd.Rest()
				require.Equal(t, size, int64(len(data)))
				require.Equal(t, data, content(t, s, name))
				_, p, _ := s.parseRemote(name)
				fi, err := os.Stat(p)
				require.NoError(t, err)
				require.Equal(t, ts, fi.ModTime().Unix(), "mtime is the source's timestamp")
				require.Contains(t, rpBinlog(t, s), strconv.FormatInt(ts, 10)+" c "+name+"\n")
				created = append(created, name)
				// A second create of the same file is EEXIST.
				h, _ = roundTrip(t, c, req.Header.Cmd, req.Header.Status, req.Body)
				require.Equal(t, proto.StatusEEXIST, h.Status)
			}
		}
	}
	require.Len(t, created, 4)
	require.NotContains(t, rpBinlog(t, s), " C ", "replicas are never logged as own operations")
}

// v20Server is a scripted peer: it records every request per connection
// and answers with handle.
type v20Server struct {
	ln     net.Listener
	mu     sync.Mutex
	reqs   []v20Req
	handle func(cmd byte, body []byte) (byte, []byte)
	wg     sync.WaitGroup
}

type v20Req struct {
	conn int
	h    proto.Header
	body []byte
}

func v20Serve(t *testing.T, addr string, handle func(cmd byte, body []byte) (byte, []byte)) *v20Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	v := &v20Server{ln: ln, handle: handle}
	var conns sync.Map
	n := 0
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n++
			id := n
			conns.Store(c, true)
			v.wg.Add(1)
			go func() {
				defer v.wg.Done()
				defer c.Close()
				for {
					c.SetDeadline(time.Now().Add(30 * time.Second))
					h, err := proto.ReadHeader(c)
					if err != nil {
						return
					}
					body := make([]byte, h.PkgLen)
					if _, err := io.ReadFull(c, body); err != nil {
						return
					}
					v.mu.Lock()
					v.reqs = append(v.reqs, v20Req{conn: id, h: h, body: body})
					v.mu.Unlock()
					if h.Cmd == proto.CmdQuit {
						return
					}
					st, resp := v.handle(h.Cmd, body)
					if proto.WriteResponse(c, st, resp) != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		v.wg.Wait()
	})
	return v
}

// requests returns the recorded requests of cmd.
func (v *v20Server) requests(cmd byte) []v20Req {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []v20Req
	for _, r := range v.reqs {
		if r.h.Cmd == cmd {
			out = append(out, r)
		}
	}
	return out
}

// TestVector20SyncSend runs our storage as the source of vector 20 against
// a scripted tracker and a scripted new storage: what it sends must have
// the captured layouts — SYNC_SRC_REQ and REPORT_STATUS (SYNCING, then
// OFFLINE) to the tracker, REPORT_SERVER_ID, SYNC_CREATE_FILE and
// SYNC_DELETE_FILE to the peer, REPLICA_CHG to a tracker that lags, and
// SYNC_REPORT once the peer pushes something back.
func TestVector20SyncSend(t *testing.T) {
	port := cluster.SharedPort(t, "127.0.0.3", "127.0.0.4")
	const src, dst = "127.0.0.3", "127.0.0.4"
	params := v20Requests(t, "127.0.0.3:", "127.0.0.2:22122", proto.CmdStorageParameterReq)
	require.NotEmpty(t, params)
	var paramText []byte
	for _, c := range v20Conns(t, "127.0.0.3:", "127.0.0.2:22122") {
		for i, p := range c.Packets {
			if p.Header.Cmd == proto.CmdStorageParameterReq {
				paramText = c.Packets[i+1].Body
			}
		}
	}
	require.NotEmpty(t, paramText)
	var peerListed atomic.Bool
	until := time.Now().Unix()
	brief := func(st byte, ip string) []byte {
		w := &proto.Buf{}
		(&proto.StorageBrief{Status: st, Port: int32(port), ID: ip, IP: ip}).Append(w)
		return w.B
	}
	tr := v20Serve(t, "127.0.0.2:0", func(cmd byte, body []byte) (byte, []byte) {
		switch cmd {
		case proto.CmdStorageGetMyIP:
			return 0, []byte(src)
		case proto.CmdStorageParameterReq:
			return 0, paramText
		case proto.CmdStorageJoin:
			return 0, make([]byte, proto.JoinRespSize)
		case proto.CmdStorageSyncSrcReq:
			return 0, (&proto.SyncReq{SrcID: src, Until: until}).Encode()
		case proto.CmdStorageBeat:
			w := &proto.Buf{B: []byte{proto.BeatFlagGroupServer}}
			w.Bytes(brief(proto.StatusActive, src))
			if peerListed.Load() {
				w.Bytes(brief(proto.StatusWaitSync, dst)) // this tracker never advances it
			}
			return 0, w.B
		case proto.CmdStorageReportDiskUsage, proto.CmdStorageSyncReport:
			return 0, []byte{0}
		}
		return 0, nil
	})
	var peerFiles sync.Map
	peer := v20Serve(t, net.JoinHostPort(dst, strconv.Itoa(port)), func(cmd byte, body []byte) (byte, []byte) {
		switch cmd {
		case proto.CmdSyncDeleteFile:
			return proto.StatusENOENT, nil
		case proto.CmdSyncCreateFile:
			rd := &proto.Reader{B: body}
			n, _ := rd.I64(), rd.I64()
			rd.Raw(4 + 16)
			peerFiles.Store(string(rd.Raw(int(n))), rd.Rest())
		}
		return 0, nil
	})

	o := testOpts(t)
	o.BindAddr = src
	o.Port = port
	o.TrackerServers = []string{tr.ln.Addr().String()}
	o.HeartBeatInterval = 50 * time.Millisecond
	o.StatReportInterval = time.Hour
	o.SyncWait = 10 * time.Millisecond
	s := start(t, o)
	files := map[string][]byte{}
	for i := range 3 {
		d := rpRand(300 + i)
		files[rpUpload(t, s.Addr().String(), proto.CmdUploadFile, d)] = d
	}
	gone := rpUpload(t, s.Addr().String(), proto.CmdUploadFile, []byte("x"))
	st, _ := rpCall(t, s.Addr().String(), proto.CmdDeleteFile, groupBody("group1", gone))
	require.Equal(t, byte(0), st)
	peerListed.Store(true)

	waitFor(t, 10*time.Second, "SYNCING and OFFLINE reported", func() bool { return len(tr.requests(proto.CmdStorageReportStatus)) >= 2 })
	waitFor(t, 10*time.Second, "REPLICA_CHG", func() bool { return len(tr.requests(proto.CmdStorageReplicaChg)) > 0 })
	for name, d := range files {
		v, ok := peerFiles.Load(name)
		require.True(t, ok, name)
		require.Equal(t, d, v.([]byte))
	}

	// Tracker side, against the captured packets of 127.0.0.1.
	vSrc := v20Requests(t, "127.0.0.1:", "127.0.0.2:22122", proto.CmdStorageSyncSrcReq)
	got := tr.requests(proto.CmdStorageSyncSrcReq)
	require.NotEmpty(t, vSrc)
	require.NotEmpty(t, got)
	require.Len(t, got[0].body, len(vSrc[0].Body))
	require.Equal(t, vSrc[0].Body[:16], got[0].body[:16], "group field")
	require.Equal(t, dst, proto.Fixed(got[0].body[16:]))

	vRep := v20Requests(t, "127.0.0.1:", "127.0.0.2:22122", proto.CmdStorageReportStatus)
	gotRep := tr.requests(proto.CmdStorageReportStatus)
	require.Len(t, vRep, 2)
	for i, r := range gotRep[:2] {
		require.Len(t, r.body, len(vRep[i].Body))
		require.Equal(t, vRep[i].Body[:17], r.body[:17], "group and status (SYNCING, then OFFLINE)")
		var b proto.StorageBrief
		b.Read(&proto.Reader{B: r.body[16:]})
		require.Equal(t, dst, b.ID)
		require.Equal(t, dst, b.IP)
		require.NotEqual(t, got[0].conn, r.conn, "a connection of its own")
	}
	for _, r := range tr.requests(proto.CmdQuit) {
		require.Empty(t, r.body)
	}
	vChg := v20Requests(t, "127.0.0.3:", "127.0.0.2:22122", proto.CmdStorageReplicaChg)
	require.NotEmpty(t, vChg)
	chg := tr.requests(proto.CmdStorageReplicaChg)[0]
	require.Len(t, chg.body, len(vChg[0].Body))
	require.Equal(t, dst, proto.Fixed(chg.body[5:21]))
	require.Greater(t, chg.body[0], proto.StatusWaitSync)

	// Peer side: REPORT_SERVER_ID first, then creates and the delete.
	vID := v20Requests(t, "127.0.0.1:", "127.0.0.3:23000", proto.CmdStorageReportServerID)
	ids := peer.requests(proto.CmdStorageReportServerID)
	require.NotEmpty(t, ids)
	require.Len(t, ids[0].body, len(vID[0].Body))
	require.Equal(t, src, proto.Fixed(ids[0].body))
	peer.mu.Lock()
	firstOnConn := map[int]byte{}
	for _, r := range peer.reqs {
		if _, ok := firstOnConn[r.conn]; !ok {
			firstOnConn[r.conn] = r.h.Cmd
		}
	}
	peer.mu.Unlock()
	for conn, cmd := range firstOnConn {
		require.Equal(t, byte(proto.CmdStorageReportServerID), cmd, "connection %d starts with REPORT_SERVER_ID", conn)
	}
	vCreate := v20Requests(t, "127.0.0.1:", "127.0.0.3:23000", proto.CmdSyncCreateFile)
	creates := peer.requests(proto.CmdSyncCreateFile)
	require.Len(t, creates, 3, "the deleted file's create is skipped")
	for _, r := range append(creates, v20Req{h: vCreate[0].Header, body: vCreate[0].Body}) {
		rd := &proto.Reader{B: r.body}
		n, size, _ := rd.I64(), rd.I64(), rd.I32()
		require.Equal(t, "group1", proto.Fixed(rd.Raw(16)))
		require.Equal(t, int64(proto.GroupNameLen+20)+n+size, r.h.PkgLen)
		require.Equal(t, byte(0), r.h.Status)
		require.Regexp(t, `^M00/[0-9A-F]{2}/[0-9A-F]{2}/`, string(rd.Raw(int(n))))
	}
	vDel := v20Requests(t, "127.0.0.1:", "127.0.0.3:23000", proto.CmdSyncDeleteFile)
	dels := peer.requests(proto.CmdSyncDeleteFile)
	require.Len(t, dels, 1)
	require.Len(t, dels[0].body, len(vDel[0].Body))
	require.Equal(t, vDel[0].Body[4:20], dels[0].body[4:20])
	require.Equal(t, gone, string(dels[0].body[20:]))

	// The peer pushes a file back: our storage reports the timestamp.
	pc := rpConn(t, s.Addr().String())
	h, _ := roundTrip(t, pc, proto.CmdStorageReportServerID, 0, (&proto.Buf{}).Fixed(dst, 16).B)
	require.Equal(t, byte(0), h.Status)
	back := "M00/00/00/fwAAAWsG8PeAULFrAAABLBtDLRM052.txt"
	ts := int32(until + 5)
	h, _ = roundTrip(t, pc, proto.CmdSyncCreateFile, 0, (&proto.Buf{}).I64(int64(len(back))).I64(3).I32(ts).
		Fixed("group1", 16).String(back).String("abc").B)
	require.Equal(t, byte(0), h.Status)
	waitFor(t, 10*time.Second, "SYNC_REPORT", func() bool { return len(tr.requests(proto.CmdStorageSyncReport)) > 0 })
	vRepSync := v20Requests(t, "127.0.0.3:", "127.0.0.2:22122", proto.CmdStorageSyncReport)
	require.NotEmpty(t, vRepSync)
	sr := tr.requests(proto.CmdStorageSyncReport)[0]
	require.Zero(t, len(sr.body)%(len(vRepSync[0].Body)/2), "entries of 20 bytes")
	require.True(t, bytes.Contains(sr.body, (&proto.Buf{}).Fixed(dst, 16).I32(ts).B), "%x", sr.body)
}
