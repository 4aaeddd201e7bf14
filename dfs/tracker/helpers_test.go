package tracker

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// testOptions is tracker.conf as the captured reference tracker ran it
// (sample config: 20% reserved), on 127.0.0.1 and a free port.
func testOptions(t testing.TB) *conf.Tracker {
	o := conf.DefaultTracker()
	o.BindAddr = "127.0.0.1"
	o.Port = 0
	o.BasePath = t.TempDir()
	o.NetworkTimeout = 5 * time.Second
	o.ReservedSpace = conf.Reserved{Ratio: 0.2, Text: "20.00%"}
	return o
}

// startTracker runs a tracker with testOptions changed by mod; Exit runs
// at cleanup.
func startTracker(t *testing.T, mod func(o *conf.Tracker)) *Tracker {
	t.Helper()
	o := testOptions(t)
	if mod != nil {
		mod(o)
	}
	return startWith(t, o)
}

func startWith(t *testing.T, o *conf.Tracker) *Tracker {
	t.Helper()
	tr, err := New(o, zerolog.Nop())
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- tr.Main() }()
	t.Cleanup(func() {
		tr.Exit()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Error("Main did not return after Exit")
		}
	})
	return tr
}

// client is one TCP connection to the tracker.
type client struct {
	t *testing.T
	c net.Conn
}

// dial connects from 127.0.0.1.
func dial(t *testing.T, tr *Tracker) *client { return dialFrom(t, tr, "127.0.0.1") }

// dialFrom connects from a chosen loopback address, so one test can play
// several storages (their ID is their IP).
func dialFrom(t *testing.T, tr *Tracker, ip string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", tr.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c}
}

// call sends one request and reads the response header and body.
func (c *client) call(cmd byte, body []byte) (status byte, resp []byte) {
	c.t.Helper()
	c.c.SetDeadline(time.Now().Add(5 * time.Second))
	require.NoError(c.t, proto.WritePacket(c.c, cmd, 0, body))
	return c.read()
}

func (c *client) read() (status byte, resp []byte) {
	c.t.Helper()
	c.c.SetDeadline(time.Now().Add(5 * time.Second))
	h, err := proto.ReadHeader(c.c)
	require.NoError(c.t, err)
	require.EqualValues(c.t, proto.CmdResp, h.Cmd)
	resp = make([]byte, h.PkgLen)
	_, err = io.ReadFull(c.c, resp)
	require.NoError(c.t, err)
	return h.Status, resp
}

// ok calls and requires status 0.
func (c *client) ok(cmd byte, body []byte) []byte {
	c.t.Helper()
	st, resp := c.call(cmd, body)
	require.Zero(c.t, st, "cmd %d: status %d", cmd, st)
	return resp
}

// requireClosed waits for the server to close the connection.
func (c *client) requireClosed(within time.Duration) {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 64)
	for {
		n, err := c.c.Read(buf)
		if err != nil {
			var ne net.Error
			require.False(c.t, errorAs(err, &ne) && ne.Timeout(), "connection still open after %s", within)
			return
		}
		require.Zero(c.t, n, "unexpected bytes %x", buf[:n])
	}
}

func errorAs(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// joinBody is a JOIN for group at port with paths store paths.
func joinBody(group string, port, paths int) []byte {
	j := proto.JoinBody{GroupName: group, StoragePort: int64(port), StorePathCount: int64(paths),
		SubdirCount: 256, UploadPriority: 10, JoinTime: 1700000000, UpTime: 1700000100,
		Version: proto.Version, InitFlag: true, CurrentTrackerIP: "127.0.0.1",
		Trackers: []string{"127.0.0.1:22122"}}
	return j.Encode()
}

func diskBody(paths ...[2]int64) []byte {
	w := &proto.Buf{}
	for _, p := range paths {
		w.I64(p[0]).I64(p[1])
	}
	return w.B
}

// storageConn is a fake storage: joined, ONLINE then ACTIVE through a beat
// and a disk report of the given (total, free) MB per path.
func storageConn(t *testing.T, tr *Tracker, ip, group string, paths ...[2]int64) *client {
	t.Helper()
	if len(paths) == 0 {
		paths = [][2]int64{{100000, 90000}}
	}
	c := dialFrom(t, tr, ip)
	resp := c.ok(proto.CmdStorageJoin, joinBody(group, 23000, len(paths)))
	require.Len(t, resp, proto.JoinRespSize)
	st, sync := c.call(proto.CmdStorageSyncDestReq, nil)
	require.Zero(t, st)
	if len(sync) == proto.SyncReqSize {
		// Others exist: play the sync as finished so the storage can go ACTIVE.
		c.ok(proto.CmdStorageSyncNotify, make([]byte, proto.SyncReqSize))
	}
	c.ok(proto.CmdStorageBeat, nil)
	c.ok(proto.CmdStorageReportDiskUsage, diskBody(paths...))
	return c
}

func groupField(name string) []byte {
	b := make([]byte, proto.GroupNameLen)
	copy(b, name)
	return b
}

// listStorages returns LIST_STORAGE records of a group.
func listStorages(t *testing.T, tr *Tracker, group string) []proto.StorageStat {
	t.Helper()
	c := dial(t, tr)
	resp := c.ok(proto.CmdServerListStorage, groupField(group))
	recs, err := proto.DecodeStorageStats(resp)
	require.NoError(t, err)
	return recs
}

func statusOf(t *testing.T, tr *Tracker, group, id string) byte {
	t.Helper()
	for _, r := range listStorages(t, tr, group) {
		if r.ID == id {
			return r.Status
		}
	}
	t.Fatalf("storage %s not listed in %s", id, group)
	return 0
}

// waitStatus polls LIST_STORAGE until the storage has status want.
func waitStatus(t *testing.T, tr *Tracker, group, id string, want byte, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := statusOf(t, tr, group, id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("storage %s: status %s, want %s after %s", id,
				proto.StorageStatusName(got), proto.StorageStatusName(want), within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// remoteName makes a normal (or appender) file name created by srcIP at ts.
func remoteName(srcIP string, ts int64, appender bool) string {
	info := fileid.Info{SourceIP: srcIP, Timestamp: ts, SizeField: fileid.SizeField(13, appender, 7), CRC32: 1}
	return fileid.RemoteName(0, 0x0B, 0, info, fileid.FormatExt("txt", func() uint32 { return 363 }))
}

func fetchBody(group, remote string) []byte {
	return append(groupField(group), remote...)
}

// be64 reads an i64be field.
func be64(b []byte, off int) int64 { return int64(binary.BigEndian.Uint64(b[off:])) }
