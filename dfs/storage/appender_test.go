package storage

import (
	"bytes"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

func appendBody(remote string, data []byte) []byte {
	return (&proto.Buf{}).I64(int64(len(remote))).I64(int64(len(data))).String(remote).Bytes(data).B
}

func modifyBody(remote string, off int64, data []byte) []byte {
	return (&proto.Buf{}).I64(int64(len(remote))).I64(off).I64(int64(len(data))).String(remote).Bytes(data).B
}

func truncateBody(remote string, size int64) []byte {
	return (&proto.Buf{}).I64(int64(len(remote))).I64(size).String(remote).B
}

func slaveBody(master, prefix, ext string, data []byte) []byte {
	return (&proto.Buf{}).I64(int64(len(master))).I64(int64(len(data))).Fixed(prefix, 16).Fixed(ext, 6).
		String(master).Bytes(data).B
}

// uploadAppender stores data as an appender file and returns its name.
func uploadAppender(t testing.TB, c net.Conn, data []byte) string {
	t.Helper()
	h, b := roundTrip(t, c, proto.CmdUploadAppenderFile, 0, uploadBody(0, "log", data))
	require.Equal(t, byte(0), h.Status)
	require.Len(t, b, 60)
	return string(b[16:])
}

// content reads the data file of remote.
func content(t testing.TB, s *Storage, remote string) []byte {
	t.Helper()
	_, p, err := s.parseRemote(remote)
	require.NoError(t, err)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

// snapshot is everything stored: each file under the store path (its bytes,
// or "-> target" for a link) and the binlog.
func snapshot(t testing.TB, s *Storage) map[string]string {
	t.Helper()
	out := map[string]string{"binlog": strings.Join(binlogLines(t, s), "\n")}
	root := s.paths[0].dataDir
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel == ".tmp" {
				return filepath.SkipDir
			}
			return nil
		}
		if rel == subdirMarker {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			out[rel] = "-> " + target
			return err
		}
		b, err := os.ReadFile(p)
		out[rel] = string(b)
		return err
	})
	require.NoError(t, err)
	return out
}

// lastLine is the binlog's last record without its timestamp.
func lastLine(t testing.TB, s *Storage) string {
	t.Helper()
	lines := binlogLines(t, s)
	require.NotEmpty(t, lines)
	_, rest, _ := strings.Cut(lines[len(lines)-1], " ")
	return rest
}

// mtimeOf is the file's mtime in Unix seconds.
func mtimeOf(t testing.TB, s *Storage, remote string) int64 {
	_, p, err := s.parseRemote(remote)
	require.NoError(t, err)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return fi.ModTime().Unix()
}

// TestAppenderCommands: append, modify and truncate change the file and
// log A/M/T with the extra fields of §5.2 (§11 items 22, 23).
func TestAppenderCommands(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	remote := uploadAppender(t, c, []byte("abc"))

	h, b := roundTrip(t, c, proto.CmdAppendFile, 0, appendBody(remote, []byte("defg")))
	require.Equal(t, byte(0), h.Status)
	require.Empty(t, b)
	require.Equal(t, "abcdefg", string(content(t, s, remote)))
	lines := binlogLines(t, s)
	require.Equal(t, fmt.Sprintf("%d A %s 3 4", mtimeOf(t, s, remote), remote), lines[len(lines)-1])

	h, _ = roundTrip(t, c, proto.CmdModifyFile, 0, modifyBody(remote, 1, []byte("XY")))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, "aXYdefg", string(content(t, s, remote)))
	require.Equal(t, "M "+remote+" 1 2", lastLine(t, s))

	// At offset = size, MODIFY extends the file.
	h, _ = roundTrip(t, c, proto.CmdModifyFile, 0, modifyBody(remote, 7, []byte("hi")))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, "aXYdefghi", string(content(t, s, remote)))
	require.Equal(t, "M "+remote+" 7 2", lastLine(t, s))

	h, _ = roundTrip(t, c, proto.CmdTruncateFile, 0, truncateBody(remote, 4))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, "aXYd", string(content(t, s, remote)))
	require.Equal(t, "T "+remote+" 9 4", lastLine(t, s))

	// Equal size and empty append/modify: success, nothing logged.
	n := len(binlogLines(t, s))
	h, _ = roundTrip(t, c, proto.CmdTruncateFile, 0, truncateBody(remote, 4))
	require.Equal(t, byte(0), h.Status)
	h, _ = roundTrip(t, c, proto.CmdAppendFile, 0, appendBody(remote, nil))
	require.Equal(t, byte(0), h.Status)
	h, _ = roundTrip(t, c, proto.CmdModifyFile, 0, modifyBody(remote, 2, nil))
	require.Equal(t, byte(0), h.Status)
	require.Len(t, binlogLines(t, s), n)

	// A larger size extends with zeros.
	h, _ = roundTrip(t, c, proto.CmdTruncateFile, 0, truncateBody(remote, 6))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, "aXYd\x00\x00", string(content(t, s, remote)))
	require.Equal(t, "T "+remote+" 4 6", lastLine(t, s))

	// A big append streams through several chunks.
	big := bytes.Repeat([]byte("0123456789abcdef"), 50000)
	h, _ = roundTrip(t, c, proto.CmdAppendFile, 0, appendBody(remote, big))
	require.Equal(t, byte(0), h.Status)
	require.True(t, bytes.Equal(append([]byte("aXYd\x00\x00"), big...), content(t, s, remote)))
	require.Equal(t, fmt.Sprintf("A %s 6 %d", remote, len(big)), lastLine(t, s))

	// QUERY_FILE_INFO sees the new size and computes the CRC.
	h, b = roundTrip(t, c, proto.CmdQueryFileInfo, 0, groupBody("group1", remote))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, int64(6+len(big)), proto.I64(b[0:8]))

	st := s.stats
	require.Equal(t, int64(3), st.get(proto.StatTotalAppend))
	require.Equal(t, int64(3), st.get(proto.StatSuccessAppend))
	require.Equal(t, int64(4+len(big)), st.get(proto.StatSuccessAppendBytes))
	require.Equal(t, int64(3), st.get(proto.StatSuccessModify))
	require.Equal(t, int64(4), st.get(proto.StatSuccessModifyBytes))
	require.Equal(t, int64(3), st.get(proto.StatSuccessTruncate))
	require.Equal(t, int64(3), st.get(proto.StatTotalTruncate))
	require.Zero(t, s.appLocks.size(), "no lock entries left")
}

// TestAppenderBadInput: every refusal answers the FastDFS status and leaves
// the stored bytes and the binlog exactly as they were.
func TestAppenderBadInput(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	app := uploadAppender(t, c, []byte("0123456789"))
	normal := upload(t, c, 0, "txt", hello)
	missing := app[:10] + "AAAAAAAAAAAAAAAAAAAAAAAAAAA123.log"
	// A name with the appender flag that does not exist.
	info, _, err := fileid.Decode(app)
	require.NoError(t, err)
	info.CRC32++
	missingApp := app[:10] + fileid.EncodeBlock(info) + app[37:]
	before := snapshot(t, s)

	badLen := appendBody(app, []byte("xy"))
	proto.PutI64(badLen[8:16], 5) // file_size ≠ data in the body
	for _, tc := range []struct {
		name string
		cmd  byte
		body []byte
		want byte
	}{
		{"modify beyond the end", proto.CmdModifyFile, modifyBody(app, 11, []byte("x")), proto.StatusEINVAL},
		{"modify negative offset", proto.CmdModifyFile, modifyBody(app, -1, []byte("x")), proto.StatusEINVAL},
		{"truncate negative", proto.CmdTruncateFile, truncateBody(app, -1), proto.StatusEINVAL},
		{"append to a normal file", proto.CmdAppendFile, appendBody(normal, []byte("x")), proto.StatusEINVAL},
		{"modify a normal file", proto.CmdModifyFile, modifyBody(normal, 0, []byte("x")), proto.StatusEINVAL},
		{"truncate a normal file", proto.CmdTruncateFile, truncateBody(normal, 1), proto.StatusEINVAL},
		{"regenerate a normal file", proto.CmdRegenerateAppenderFilename, []byte(normal), proto.StatusEINVAL},
		{"append to a missing file", proto.CmdAppendFile, appendBody(missingApp, []byte("x")), proto.StatusENOENT},
		{"truncate a missing file", proto.CmdTruncateFile, truncateBody(missingApp, 0), proto.StatusENOENT},
		{"regenerate a missing file", proto.CmdRegenerateAppenderFilename, []byte(missingApp), proto.StatusENOENT},
		{"missing non-appender", proto.CmdAppendFile, appendBody(missing, []byte("x")), proto.StatusENOENT},
		{"short name", proto.CmdAppendFile, appendBody(app[:43], []byte("x")), proto.StatusEINVAL},
		{"short regenerate name", proto.CmdRegenerateAppenderFilename, []byte(app[:43]), proto.StatusEINVAL},
		{"size mismatch", proto.CmdAppendFile, badLen, proto.StatusEINVAL},
		{"bad path", proto.CmdAppendFile, appendBody("M00/00/00/../"+app[13:], []byte("x")), proto.StatusEINVAL},
		{"fixed part only", proto.CmdModifyFile, make([]byte, 10), proto.StatusEINVAL},
		{"truncate name length mismatch", proto.CmdTruncateFile, truncateBody(app, 1)[:50], proto.StatusEINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s)
			h, b := roundTrip(t, c, tc.cmd, 0, tc.body)
			require.Equal(t, tc.want, h.Status)
			require.Empty(t, b)
			if tc.want == proto.StatusEINVAL {
				requireClosed(t, c) // FastDFS closes after EINVAL (§1.5)
			} else {
				activeOK(t, s)
			}
			require.Equal(t, before, snapshot(t, s))
		})
	}
	require.Equal(t, int64(0), s.stats.get(proto.StatSuccessAppend))
	require.Zero(t, s.appLocks.size())
}

// sendPartial writes a request header announcing pkgLen body bytes, then
// only body, then closes the connection.
func sendPartial(t *testing.T, s *Storage, cmd byte, pkgLen int64, body []byte) {
	t.Helper()
	c := dial(t, s)
	require.NoError(t, proto.WriteHeader(c, proto.Header{PkgLen: pkgLen, Cmd: cmd}))
	_, err := c.Write(body)
	require.NoError(t, err)
	c.Close()
}

// TestAppenderShortBody: a client that vanishes mid-body leaves no trace of
// an append; a small modify changes nothing; the written part of a big
// modify stays and is logged for exactly those bytes.
func TestAppenderShortBody(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	remote := uploadAppender(t, c, []byte("0123456789"))
	before := snapshot(t, s)
	// settled waits until the session of the last sendPartial is over.
	var opened uint64
	settled := func() bool {
		return s.sessions.Load() > opened && s.stats.connCurrent.Load() == 1 && s.appLocks.size() == 0
	}

	// APPEND of 600 KiB, 400 KiB sent: more than one chunk was written,
	// then cut back.
	data := bytes.Repeat([]byte("z"), 600<<10)
	body := appendBody(remote, data)
	opened = s.sessions.Load()
	sendPartial(t, s, proto.CmdAppendFile, int64(len(body)), body[:len(body)-200<<10])
	waitFor(t, 5*time.Second, "append abandoned", settled)
	require.Equal(t, before, snapshot(t, s))

	// Small MODIFY, short: nothing written.
	body = modifyBody(remote, 2, []byte("abcdef"))
	opened = s.sessions.Load()
	sendPartial(t, s, proto.CmdModifyFile, int64(len(body)), body[:len(body)-3])
	waitFor(t, 5*time.Second, "modify abandoned", settled)
	require.Equal(t, before, snapshot(t, s))

	// Big MODIFY from offset 4, cut after the first chunk: the first 256 KiB
	// are in place and logged as such.
	body = modifyBody(remote, 4, data)
	opened = s.sessions.Load()
	sendPartial(t, s, proto.CmdModifyFile, int64(len(body)), body[:len(body)-200<<10])
	waitFor(t, 5*time.Second, "modify abandoned", settled)
	got := content(t, s, remote)
	require.Len(t, got, 4+copyBufSize)
	require.Equal(t, "0123", string(got[:4]))
	require.Equal(t, fmt.Sprintf("M %s 4 %d", remote, copyBufSize), lastLine(t, s))
	activeOK(t, s)
}

// TestAppenderConcurrentWriters: appends to one file from many connections
// never interleave, and every byte arrives.
func TestAppenderConcurrentWriters(t *testing.T) {
	s := start(t, testOpts(t))
	remote := uploadAppender(t, dial(t, s), nil)
	const writers, rounds, block = 6, 8, 70000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", s.Addr().String())
			if !assertNoError(t, err) {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			data := bytes.Repeat([]byte{byte('a' + w)}, block)
			for range rounds {
				if !assertNoError(t, proto.WritePacket(c, proto.CmdAppendFile, 0, appendBody(remote, data))) {
					return
				}
				h, err := proto.ReadHeader(c)
				if !assertNoError(t, err) || h.Status != 0 {
					t.Errorf("append status %d", h.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := content(t, s, remote)
	require.Len(t, got, writers*rounds*block)
	counts := map[byte]int{}
	for i := 0; i < len(got); i += block {
		blk := got[i : i+block]
		require.Equal(t, bytes.Repeat(blk[:1], block), blk, "block at %d is mixed", i)
		counts[blk[0]]++
	}
	for w := range writers {
		require.Equal(t, rounds, counts[byte('a'+w)])
	}
	require.Len(t, binlogLines(t, s), 1+writers*rounds)
	require.Zero(t, s.appLocks.size())
}

func assertNoError(t *testing.T, err error) bool {
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

// TestAppenderLockMap: entries exist only while held or awaited.
func TestAppenderLockMap(t *testing.T) {
	var l appenderLocks
	u1 := l.lock("a")
	got := make(chan bool)
	go func() {
		u := l.lock("a")
		got <- true
		u()
	}()
	u2 := l.lock("b")
	require.Equal(t, 2, l.size())
	select {
	case <-got:
		t.Fatal("second locker got a held lock")
	case <-time.After(50 * time.Millisecond):
	}
	u1()
	<-got
	u2()
	waitFor(t, time.Second, "lock entries dropped", func() bool { return l.size() == 0 })
}

// TestAppenderBigBodyRefused: a refusal that keeps the connection (ENOENT,
// EEXIST) skips the whole body, however big, so a client that streams it
// before reading reads the status, not a reset.
func TestAppenderBigBodyRefused(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	app := uploadAppender(t, c, []byte("x"))
	master := upload(t, c, 0, "txt", []byte("m"))
	h, _ := roundTrip(t, c, proto.CmdUploadSlaveFile, 0, slaveBody(master, "_s", "txt", []byte("s")))
	require.Equal(t, byte(0), h.Status)
	info, _, err := fileid.Decode(app)
	require.NoError(t, err)
	info.CRC32++
	missing := app[:10] + fileid.EncodeBlock(info) + app[37:]
	before := snapshot(t, s)

	big := bytes.Repeat([]byte("b"), 3*maxDrain)
	for _, tc := range []struct {
		cmd  byte
		body []byte
		want byte
	}{
		{proto.CmdAppendFile, appendBody(missing, big), proto.StatusENOENT},
		{proto.CmdModifyFile, modifyBody(missing, 0, big), proto.StatusENOENT},
		{proto.CmdUploadSlaveFile, slaveBody(master, "_s", "txt", big), proto.StatusEEXIST},
	} {
		h, b := roundTrip(t, c, tc.cmd, 0, tc.body)
		require.Equal(t, tc.want, h.Status, "cmd %d", tc.cmd)
		require.Empty(t, b)
	}
	h, _ = roundTrip(t, c, proto.CmdActiveTest, 0, nil)
	require.Equal(t, byte(0), h.Status, "the connection is still in step")
	require.Equal(t, before, snapshot(t, s))
}
