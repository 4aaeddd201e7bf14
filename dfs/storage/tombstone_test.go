package storage

import (
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// tsName is a normal 44-character name made by source ip at ts for data.
func tsName(t testing.TB, ip string, ts int64, data []byte, rnd uint32) string {
	t.Helper()
	info := fileid.Info{SourceIP: ip, Timestamp: ts, SizeField: fileid.SizeField(int64(len(data)), false, rnd), CRC32: crc32.ChecksumIEEE(data)}
	name := fileid.RemoteName(0, 1, 2, info, fileid.FormatExt("bin", func() uint32 { return rnd }))
	require.Len(t, name, fileid.NormalRemoteLen)
	return name
}

// The set is loaded from the binlog files written within the keep window:
// deletes (D, d) and the old names of renames (R, r); creates, malformed
// lines, records older than the window and files untouched for longer are
// not taken.
func TestTombstonesLoadFromBinlog(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Unix()
	name := func(i int) string { return tsName(t, "10.0.0.1", now-1000, []byte{byte(i)}, uint32(i)) }
	stale := now - int64(tombstoneKeep/time.Second) - 10
	files := map[string]string{
		"binlog_index.dat": "current_write=2\ncurrent_compress=0\n",
		"binlog.000":       fmt.Sprintf("%d C %s\n%d D %s\n", now-1000, name(9), now-900, name(9)), // made old below
		"binlog.001": fmt.Sprintf("%d C %s\n%d D %s\n%d d %s\n%d R %s %s\n%d r %s %s\ngarbage\n%d D\n%d D %s\n%d X %s\n",
			now-1000, name(1), now-900, name(1), now-800, name(2), now-700, name(3), name(4),
			now-600, name(5), name(6), now, stale, name(7), now, name(8)),
		// A last record cut short (disk full) yields a name no file has: harmless.
		"binlog.002": fmt.Sprintf("%d D %s-m\n%d d %s", now-500, name(10), now-400, name(11)[:20]),
	}
	for f, text := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644))
	}
	old := time.Now().Add(-tombstoneKeep - time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "binlog.000"), old, old))

	b, err := openBinlog(dir, time.Hour, zerolog.Nop())
	require.NoError(t, err)
	defer b.Close()
	tb := b.tombs
	require.Equal(t, 6, tb.len(), "%v", tb.m)
	for _, n := range []string{name(1), name(2), name(4), name(6)} { // D, d, R's old name, r's old name
		require.True(t, tb.resurrects(n, now-1000), n)
		require.True(t, tb.resurrects(n+metaSuffix, now-1000), "the -m file of a deleted file")
	}
	for _, n := range []string{name(3), name(5), name(7), name(8), name(9)} { // new names, stale, op X, old file
		require.False(t, tb.resurrects(n, now-1000), n)
	}
	// name(10)-m was deleted on its own (metadata cleared): set again later
	// it is new, the version from before the delete is not.
	require.False(t, tb.resurrects(name(10)+metaSuffix, now-500))
	require.True(t, tb.resurrects(name(10)+metaSuffix, now-501))
	require.False(t, tb.resurrects(name(10), now-1000))

	// Write keeps the set current.
	b.Write(now, opDelete, name(12), "")
	require.True(t, tb.resurrects(name(12), now-1000))
	b.Write(now, 'c', name(13), "")
	require.False(t, tb.resurrects(name(13), now-1000))
}

// Which creates count as a replay: any for a name never issued twice (even
// one made after the delete by another clock), only older ones for slave
// names, which are made again whenever the same slave is uploaded again.
func TestTombstoneRules(t *testing.T) {
	tb := newTombstones(time.Hour, 100)
	now := time.Now().Unix()
	master := tsName(t, "10.0.0.1", now-100, []byte("m"), 1)
	slave, err := fileid.SlaveRemote(master, "_150x150", "jpg")
	require.NoError(t, err)
	tb.add(master, now-50)
	tb.add(slave, now-50)
	require.True(t, uniqueName(master))
	require.False(t, uniqueName(slave))
	require.True(t, tb.resurrects(master, now-100))
	require.True(t, tb.resurrects(master, now-50), "same second")
	require.True(t, tb.resurrects(master, now+50), "a source clock ahead")
	require.True(t, tb.resurrects(slave, now-100))
	require.False(t, tb.resurrects(slave, now-50), "same second: applied")
	require.False(t, tb.resurrects(slave, now-10), "uploaded again")
	require.False(t, tb.resurrects("M00/01/02/short", now-100))

	var nilSet *tombstones
	nilSet.note(now, opDelete, master, "")
	require.False(t, nilSet.resurrects(master, now))
}

// Bounds: at most max names (the oldest go first), nothing older than keep,
// and a name deleted again is kept by its latest delete.
func TestTombstoneBounds(t *testing.T) {
	now := time.Now().Unix()
	tb := newTombstones(time.Hour, 3)
	n := func(i int) string { return tsName(t, "10.0.0.2", now-7200, []byte{byte(i)}, uint32(i)) }
	for i := range 5 {
		tb.add(n(i), now-int64(10-i))
	}
	require.Equal(t, 3, tb.len())
	require.False(t, tb.resurrects(n(0), now-7200))
	require.False(t, tb.resurrects(n(1), now-7200))
	require.True(t, tb.resurrects(n(4), now-7200))

	tb.add(n(5), now-3601) // older than keep: not taken
	require.False(t, tb.resurrects(n(5), now-7200))
	require.Equal(t, 3, tb.len())

	// n(2) deleted again: its first entry is the oldest and leaves the
	// queue, the name stays by its new one.
	tb.add(n(2), now)
	require.Equal(t, 3, tb.len())
	for _, i := range []int{2, 3, 4} {
		require.True(t, tb.resurrects(n(i), now-7200), i)
	}

	// Time passes: what is older than keep goes at the next addition.
	tb.mu.Lock()
	tb.evictLocked(now + 3600 - 1)
	tb.mu.Unlock()
	require.Equal(t, 1, tb.len(), "%v", tb.m) // n(2) of now stays
	require.True(t, tb.resurrects(n(2), now-7200))

	// Many additions keep the queue compact.
	big := newTombstones(time.Hour, 10)
	for i := range 5000 {
		big.add(fmt.Sprintf("name%d", i), now)
	}
	require.Equal(t, 10, big.len())
	require.Equal(t, 10, big.n)
	require.LessOrEqual(t, len(big.ring), 10)
}

func syncCreateBody(n string, ts int64, d []byte) []byte {
	return (&proto.Buf{}).I64(int64(len(n))).I64(int64(len(d))).I32(int32(ts)).
		Fixed("group1", proto.GroupNameLen).String(n).Bytes(d).B
}

func syncDeleteBody(n string, ts int64) []byte {
	return (&proto.Buf{}).I32(int32(ts)).Fixed("group1", proto.GroupNameLen).String(n).B
}

// peerCallStatus sends one request to s as the peer 127.0.0.9 and returns
// the answer's status.
func peerCallStatus(t *testing.T, s *Storage, cmd, status byte, body []byte) byte {
	t.Helper()
	c := dial(t, s)
	h, _ := roundTrip(t, c, proto.CmdStorageReportServerID, 0, (&proto.Buf{}).Fixed("127.0.0.9", proto.StorageIDLen).B)
	require.Zero(t, h.Status)
	h, _ = roundTrip(t, c, cmd, status, body)
	return h.Status
}

// A delete that reaches this storage before the file does still wins: the
// client's delete (the tracker sent it here while the file's source was
// away) and a peer's sync delete both answer ENOENT but log the delete, a
// retried delete is not logged twice, and the create that arrives later,
// also after a restart, is answered 0 and stores nothing.
func TestDeleteBeforeCreate(t *testing.T) {
	o := testOpts(t)
	now := time.Now().Unix()
	data := []byte("uploaded on the source, not here yet")
	byClient := tsName(t, "127.0.0.9", now-10, data, 5)
	bySync := tsName(t, "127.0.0.9", now-10, data, 6)

	s, stop := startStoppable(t, o)
	for range 2 {
		h, _ := roundTrip(t, dial(t, s), proto.CmdDeleteFile, 0, groupBody("group1", byClient))
		require.Equal(t, proto.StatusENOENT, h.Status)
		require.Equal(t, proto.StatusENOENT, peerCallStatus(t, s, proto.CmdSyncDeleteFile, 0, syncDeleteBody(bySync, now-5)))
	}
	lines := binlogLines(t, s)
	require.Len(t, lines, 2, "%q", lines)
	require.Regexp(t, `^\d+ D `+byClient+`$`, lines[0])
	require.Equal(t, fmt.Sprintf("%d d %s", now-5, bySync), lines[1])

	for _, n := range []string{byClient, bySync} {
		require.Zero(t, peerCallStatus(t, s, proto.CmdSyncCreateFile, 0, syncCreateBody(n, now-10, data)))
		require.False(t, rpExists(s, n), n)
	}
	stop()

	s = start(t, o)
	for _, n := range []string{byClient, bySync} {
		require.Zero(t, peerCallStatus(t, s, proto.CmdSyncCreateFile, 0, syncCreateBody(n, now-10, data)))
		require.False(t, rpExists(s, n), n)
	}
	require.Len(t, binlogLines(t, s), 2)
}

// The receiving side: a peer replaying the create of a file deleted here
// gets success and nothing is stored or logged, also after a restart (the
// tombstone comes back from the binlog); a slave uploaded again after its
// delete is stored; a replayed link to a deleted link name is not made.
func TestSyncReplayAfterDelete(t *testing.T) {
	o := testOpts(t)
	now := time.Now().Unix()
	data := make([]byte, 5000)
	rand.Read(data)
	name := tsName(t, "127.0.0.9", now-100, data, 3)
	slave, err := fileid.SlaveRemote(name, "_s", "bin")
	require.NoError(t, err)
	link, err := fileid.SlaveRemote(name, "_l", "bin")
	require.NoError(t, err)

	createBody, deleteBody := syncCreateBody, syncDeleteBody
	linkBody := func(l, target string, ts int64) []byte {
		return (&proto.Buf{}).I64(int64(len(l))).I64(int64(len(target))).I32(int32(ts)).
			Fixed("group1", proto.GroupNameLen).String(l).String(target).B
	}
	callStatus := func(s *Storage, cmd, status byte, body []byte) byte { return peerCallStatus(t, s, cmd, status, body) }
	call := func(s *Storage, cmd byte, body []byte) byte { return callStatus(s, cmd, 0, body) }

	s, stop := startStoppable(t, o)
	require.Zero(t, call(s, proto.CmdSyncCreateFile, createBody(name, now-100, data)))
	require.Zero(t, call(s, proto.CmdSyncCreateFile, createBody(slave, now-90, []byte("slave v1"))))
	require.Zero(t, call(s, proto.CmdSyncCreateLink, linkBody(link, name, now-90)))
	c := dial(t, s)
	h, _ := roundTrip(t, c, proto.CmdDeleteFile, 0, groupBody("group1", name)) // a client, here
	require.Zero(t, h.Status)
	require.Zero(t, call(s, proto.CmdSyncDeleteFile, deleteBody(slave, now-80)))
	require.Zero(t, call(s, proto.CmdSyncDeleteFile, deleteBody(link, now-80)))
	before := rpBinlog(t, s)

	// The replays: answered 0, nothing stored, nothing logged.
	require.Zero(t, call(s, proto.CmdSyncCreateFile, createBody(name, now-100, data)))
	require.Zero(t, call(s, proto.CmdSyncUpdateFile, createBody(name, now-100, data)))
	require.Zero(t, call(s, proto.CmdSyncCreateFile, createBody(slave, now-90, []byte("slave v1"))))
	// "No content" (header status EEXIST, size field still the real size).
	noContent := (&proto.Buf{}).I64(int64(len(name))).I64(int64(len(data))).I32(int32(now-100)).
		Fixed("group1", proto.GroupNameLen).String(name).B
	require.Zero(t, callStatus(s, proto.CmdSyncCreateFile, proto.StatusEEXIST, noContent))
	require.False(t, rpExists(s, name))
	require.False(t, rpExists(s, slave))
	require.Equal(t, before, rpBinlog(t, s))

	// Restart: the tombstones come back from the binlog.
	stop()
	s = start(t, o)
	require.Zero(t, call(s, proto.CmdSyncCreateFile, createBody(name, now-100, data)))
	require.False(t, rpExists(s, name))
	// The slave uploaded again after its delete is a new version: stored.
	require.Zero(t, call(s, proto.CmdSyncCreateFile, createBody(slave, now-70, []byte("slave v2"))))
	got, st := rpFetch(t, s.Addr().String(), slave)
	require.Zero(t, st)
	require.Equal(t, "slave v2", string(got))
	// The deleted link is not made again, though its target exists.
	require.Zero(t, call(s, proto.CmdSyncCreateLink, linkBody(link, slave, now-90)))
	require.False(t, rpExists(s, link))
	lines := rpBinlog(t, s)
	require.Equal(t, before+fmt.Sprintf("%d c %s\n", now-70, slave), lines)
	require.Equal(t, 1, strings.Count(lines, " c "+name))
}
