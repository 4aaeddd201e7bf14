package storage

import (
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// flipOnDisk flips a byte in the middle of remote's file.
func flipOnDisk(t *testing.T, s *Storage, remote string) {
	t.Helper()
	_, path, err := s.parseRemote(remote)
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)/2] ^= 1
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// A normal file whose content no longer matches the CRC32 in its name is
// answered EIO on a whole-file download (asked with length 0 or the file's
// length) and on a range, on a connection that stays usable; the count goes
// up. Each request goes to a file of its own: the first refusal also hands
// the file to the scrubber, which (no other storage in the group here)
// moves it away, after which it is ENOENT.
func TestDamagedFileNotServed(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	data := make([]byte, 100<<10)
	rand.Read(data)
	asks := [][2]int64{{0, 0}, {0, int64(len(data))}, {0, 10}, {1000, 0}}
	var remotes []string
	for range asks {
		remote := upload(t, c, 0, "bin", data)
		h, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
		require.Zero(t, h.Status)
		require.Equal(t, data, got)
		remotes = append(remotes, remote)
	}
	for i, a := range asks {
		flipOnDisk(t, s, remotes[i])
		h, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remotes[i], a[0], a[1]))
		require.Equal(t, proto.StatusEIO, h.Status, "offset %d length %d", a[0], a[1])
		require.Empty(t, got)
		require.EqualValues(t, i+1, s.corrupt.Load())
	}
	waitFor(t, 10*time.Second, "damaged files moved away", func() bool {
		for _, r := range remotes {
			if h, _ := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", r, 0, 0)); h.Status != proto.StatusENOENT {
				return false
			}
		}
		return true
	})
	activeOK(t, s)
}

// A file larger than one buffer, up to verifyMaxSize, is checked before
// its header is sent: intact, it arrives whole, and the check is
// remembered for this version of the file, so a range reads it no more;
// damaged (a rewrite, which changes its ctime), it is answered EIO.
func TestCorruptFileRefusedBeforeHeader(t *testing.T) {
	for _, size := range []int{copyBufSize + 1000, 3*copyBufSize + 1234} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			s := start(t, testOpts(t))
			c := dial(t, s)
			data := make([]byte, size)
			rand.Read(data)
			remote := upload(t, c, 0, "bin", data)
			h, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
			require.Zero(t, h.Status)
			require.Equal(t, data, got)
			h, got = roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 5, 0))
			require.Zero(t, h.Status)
			require.Equal(t, data[5:], got)
			s.verified.mu.Lock()
			require.Len(t, s.verified.m, 1)
			s.verified.mu.Unlock()

			flipOnDisk(t, s, remote)
			h, got = roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
			require.Equal(t, proto.StatusEIO, h.Status)
			require.Empty(t, got)
			require.EqualValues(t, 1, s.corrupt.Load())
			activeOK(t, s)
		})
	}
}

// With verify_interval 0 nothing is remembered: every download reads and
// checks its file.
func TestVerifyEveryDownload(t *testing.T) {
	o := testOpts(t)
	o.VerifyInterval = 0
	s := start(t, o)
	c := dial(t, s)
	data := make([]byte, 100<<10)
	rand.Read(data)
	remote := upload(t, c, 0, "bin", data)
	for range 2 {
		h, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
		require.Zero(t, h.Status)
		require.Equal(t, data, got)
	}
	s.verified.mu.Lock()
	require.Empty(t, s.verified.m)
	s.verified.mu.Unlock()
}

// A whole file above verifyMaxSize is checked while it streams: the answer
// announces the whole file, but the connection closes before its last
// chunk, so no client takes the bytes as a complete file.
func TestCorruptLargeFileCutShort(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	data := make([]byte, verifyMaxSize+5)
	rand.Read(data)
	remote := upload(t, c, 0, "bin", data)
	h, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
	require.Zero(t, h.Status)
	require.Equal(t, data, got)

	flipOnDisk(t, s, remote)
	require.NoError(t, proto.WritePacket(c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0)))
	h, err := proto.ReadHeader(c)
	require.NoError(t, err)
	require.Zero(t, h.Status)
	require.EqualValues(t, len(data), h.PkgLen)
	n, err := io.Copy(io.Discard, c)
	require.NoError(t, err, "closed, not timed out")
	require.Less(t, n, int64(len(data)), "the whole damaged file was sent")
	require.EqualValues(t, 1, s.corrupt.Load())
	activeOK(t, s)
}

// Appender files keep the CRC32 of their first content in the name: they
// are never checked.
func TestAppenderFileNotVerified(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	data := make([]byte, 10<<10)
	rand.Read(data)
	h, b := roundTrip(t, c, proto.CmdUploadAppenderFile, 0, uploadBody(0, "bin", data))
	require.Zero(t, h.Status)
	remote := string(b[16:])
	_, kind, err := fileid.Decode(remote)
	require.NoError(t, err)
	require.Equal(t, fileid.KindAppender, kind)
	flipOnDisk(t, s, remote)
	h, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
	require.Zero(t, h.Status)
	require.Len(t, got, len(data))
}

// When a file cannot be created on the store path the tracker named, the
// upload goes to another one, and that path is avoided for a while.
func TestUploadAvoidsUnwritablePath(t *testing.T) {
	o := testOpts(t)
	o.StorePaths = append(o.StorePaths, filepath.Join(o.BasePath, "store1"))
	o.StorePathReadonly = append(o.StorePathReadonly, false)
	s := start(t, o)
	breakPath(t, s.paths[0])

	c := dial(t, s)
	for range 4 {
		remote := upload(t, c, 0, "bin", []byte("hello"))
		require.Equal(t, "M01/", remote[:4])
	}
	require.False(t, s.paths[0].writable())
	require.Empty(t, regularFiles(t, s.paths[0].dataDir, subdirMarker, ".tmp", "00", "01", "02", "03"), "nothing but the breakage")

	// Both broken: a clear error, nothing stored.
	breakPath(t, s.paths[1])
	s.paths[0].badUntil.Store(0)
	h, _ := roundTrip(t, c, proto.CmdUploadFile, 0, uploadBody(0, "bin", []byte("x")))
	require.NotZero(t, h.Status)
	h, _ = roundTrip(t, c, proto.CmdUploadFile, 0, uploadBody(-1, "bin", []byte("x")))
	require.Equal(t, proto.StatusENOSPC, h.Status)
}

// breakPath makes sp unable to take a new file, whichever way uploads are
// written there (tmpfile.go): its temp area and each of its HH directories
// become plain files.
func breakPath(t *testing.T, sp *storePath) {
	entries, err := os.ReadDir(sp.dataDir)
	require.NoError(t, err)
	for _, e := range entries {
		if e.IsDir() && (e.Name() == ".tmp" || len(e.Name()) == 2) {
			p := filepath.Join(sp.dataDir, e.Name())
			require.NoError(t, os.RemoveAll(p))
			require.NoError(t, os.WriteFile(p, nil, 0o644))
		}
	}
}

// A peer whose clock is far ahead (or jumped) sends files named and dated
// in the future: they are stored with that mtime, served intact (the CRC
// check does not care about time), logged, and the storage goes on
// accepting its own uploads. The machine clock itself is never changed.
func TestSyncFromFutureClock(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	h, _ := roundTrip(t, c, proto.CmdStorageReportServerID, 0, (&proto.Buf{}).Fixed("127.0.0.9", proto.StorageIDLen).B)
	require.Zero(t, h.Status)

	data := make([]byte, 20<<10)
	rand.Read(data)
	ts := time.Now().Add(400 * 24 * time.Hour).Unix()
	info := fileid.Info{SourceIP: "127.0.0.9", Timestamp: ts, SizeField: fileid.SizeField(int64(len(data)), false, 7), CRC32: crc32.ChecksumIEEE(data)}
	name := fileid.RemoteName(0, 1, 2, info, fileid.FormatExt("bin", func() uint32 { return 5 }))
	body := (&proto.Buf{}).I64(int64(len(name))).I64(int64(len(data))).I32(int32(ts)).
		Fixed("group1", proto.GroupNameLen).String(name).Bytes(data).B
	h, _ = roundTrip(t, c, proto.CmdSyncCreateFile, 0, body)
	require.Zero(t, h.Status)

	_, path, err := s.parseRemote(name)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, ts, fi.ModTime().Unix())
	h, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", name, 0, 0))
	require.Zero(t, h.Status)
	require.Equal(t, data, got)
	h, _ = roundTrip(t, c, proto.CmdQueryFileInfo, 0, groupBody("group1", name))
	require.Zero(t, h.Status)
	require.Contains(t, rpBinlog(t, s), strconv.FormatInt(ts, 10)+" c "+name+"\n")

	// Own uploads carry the local time, not the peer's.
	remote := upload(t, c, 0, "bin", []byte("now"))
	own, _, err := fileid.Decode(remote)
	require.NoError(t, err)
	require.InDelta(t, time.Now().Unix(), own.Timestamp, 5)
}

// The storage's HTTP helper checks a local file before it serves it, whole
// or by range: damaged, it answers 500 and never the bytes.
func TestCorruptNotServedOverHTTP(t *testing.T) {
	s := start(t, httpOpts(t, "127.0.0.1"))
	c := dial(t, s)
	data := make([]byte, 50<<10)
	rand.Read(data)
	intact := upload(t, c, 0, "bin", data)
	code, _, b := get(t, "GET", httpBase(s), "/group1/"+intact)
	require.Equal(t, 200, code)
	require.Equal(t, data, b)
	remote := upload(t, c, 0, "bin", data)
	flipOnDisk(t, s, remote)
	code, _, b = get(t, "GET", httpBase(s), "/group1/"+remote, "Range", "bytes=0-99")
	require.Equal(t, 500, code)
	require.NotEqual(t, data[:100], b)
	require.EqualValues(t, 1, s.corrupt.Load())
}

// TestUploadRecreatesMissingSubdir removes every HH/HH directory under the
// store path after start: uploads still succeed (the directory an upload
// lands in is recreated when publishing finds it gone) and the files can
// be downloaded.
func TestUploadRecreatesMissingSubdir(t *testing.T) {
	o := testOpts(t)
	s := start(t, o)
	data := filepath.Join(o.StorePaths[0], "data")
	subdirs, err := os.ReadDir(data)
	require.NoError(t, err)
	removed := 0
	for _, d := range subdirs {
		if d.IsDir() && len(d.Name()) == 2 {
			require.NoError(t, os.RemoveAll(filepath.Join(data, d.Name())))
			removed++
		}
	}
	require.Equal(t, o.SubdirCountPerPath, removed)
	c := dial(t, s)
	for i := range 8 {
		content := []byte(fmt.Sprintf("file %d in a recreated directory", i))
		remote := upload(t, c, 0, "txt", content)
		_, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
		require.Equal(t, content, got)
	}
}

// TestUploadModes: where the filesystem allows it, uploads are written into
// unnamed files (tmpfile.go); an upload cut off half-way leaves no file
// behind in either mode, and both modes store and serve files alike.
func TestUploadModes(t *testing.T) {
	for _, unnamed := range []bool{true, false} {
		t.Run(fmt.Sprintf("unnamed=%v", unnamed), func(t *testing.T) {
			o := testOpts(t)
			s := start(t, o)
			sp := s.paths[0]
			if unnamed {
				require.True(t, sp.unnamed, "the test's temp dir supports O_TMPFILE (tmpfs, ext4, xfs, btrfs do)")
			}
			sp.unnamed = unnamed // before any upload: nothing reads it concurrently yet
			c := dial(t, s)
			content := []byte("stored the " + strconv.FormatBool(unnamed) + " way")
			remote := upload(t, c, 0, "txt", content)
			_, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
			require.Equal(t, content, got)

			// Half an upload, then the client goes away.
			cut := dial(t, s)
			body := uploadBody(0, "bin", make([]byte, 1<<20))
			hdr := make([]byte, proto.HeaderSize)
			proto.Header{PkgLen: int64(len(body)), Cmd: proto.CmdUploadFile}.Encode(hdr)
			_, err := cut.Write(append(hdr, body[:len(body)/2]...))
			require.NoError(t, err)
			cut.Close()
			files := func() []string { return regularFiles(t, sp.dataDir, subdirMarker) }
			// Its session ends after its temp file is removed; one file can
			// also be seen before that file appears.
			waitFor(t, 10*time.Second, "the cut upload's file gone", func() bool {
				s.mu.Lock()
				n := len(s.conns)
				s.mu.Unlock()
				return n == 1 && len(files()) == 1
			})
			require.Equal(t, []string{remote[4:]}, files())
		})
	}
}

// TestSendModes: downloads larger than 16 KiB leave with sendfile, or, a
// buffer or more from a tmpfs, by pread and write (sendCopy); both send the
// same bytes, whole and by range, and the connection stays usable.
func TestSendModes(t *testing.T) {
	for _, copySend := range []bool{false, true} {
		t.Run(fmt.Sprintf("copy=%v", copySend), func(t *testing.T) {
			s := start(t, testOpts(t))
			s.paths[0].copySend = copySend // before any download
			c := dial(t, s)
			data := make([]byte, 3*copyBufSize/2+17)
			rand.Read(data)
			remote := upload(t, c, 0, "bin", data)
			for _, r := range [][2]int64{{0, 0}, {100, 70 << 10}, {copyBufSize - 5, copyBufSize / 4}, {10, copyBufSize + 3}, {int64(len(data)) - 30, 0}} {
				_, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, r[0], r[1]))
				want := data[r[0]:]
				if r[1] > 0 {
					want = want[:r[1]]
				}
				require.Equal(t, want, got, "range %v", r)
			}
		})
	}
}
