package client

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/client/clienttest"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/internal/vectors"
)

// The file every scenario 01–07 works on.
const (
	helloID      = "group1/M00/0B/00/fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt"
	helloContent = "hello yunpan\n"
)

func load(t *testing.T, name string) *vectors.Scenario {
	t.Helper()
	sc, err := vectors.Load(name)
	require.NoError(t, err)
	return sc
}

func newClient(t *testing.T, trackers ...string) *Client {
	t.Helper()
	c, err := New(&conf.Client{
		TrackerServers: trackers,
		ConnectTimeout: 2 * time.Second,
		NetworkTimeout: 5 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestScenario01Upload(t *testing.T) {
	sc := load(t, "01")
	t.Run("buffer", func(t *testing.T) {
		srv := clienttest.Start(t, sc)
		c := newClient(t, srv.TrackerAddr())
		id, err := c.UploadBuffer(ctx(t), []byte(helloContent), "txt")
		require.NoError(t, err)
		require.Equal(t, sc.Output[0], id)
	})
	t.Run("file, ext from the name", func(t *testing.T) {
		srv := clienttest.Start(t, sc)
		c := newClient(t, srv.TrackerAddr())
		p := filepath.Join(t.TempDir(), "hello.txt")
		require.NoError(t, os.WriteFile(p, []byte(helloContent), 0o644))
		id, err := c.UploadFile(ctx(t), p, "")
		require.NoError(t, err)
		require.Equal(t, sc.Output[0], id)
	})
	t.Run("direct to the storage", func(t *testing.T) {
		srv := clienttest.Start(t, sc, 1) // only the storage connection
		c := newClient(t, srv.TrackerAddr())
		id, err := c.UploadTo(ctx(t), srv.StorageAddr(), 0, strings.NewReader(helloContent), int64(len(helloContent)), "txt")
		require.NoError(t, err)
		require.Equal(t, sc.Output[0], id)
		require.Zero(t, srv.Accepts(clienttest.Tracker))
	})
}

func TestScenario08UploadAppender(t *testing.T) {
	sc := load(t, "08")
	srv := clienttest.Start(t, sc)
	c := newClient(t, srv.TrackerAddr())
	id, err := c.UploadAppender(ctx(t), strings.NewReader(helloContent), int64(len(helloContent)), "txt")
	require.NoError(t, err)
	require.Equal(t, sc.Output[0], id)
	_, remote, err := fileid.Split(id)
	require.NoError(t, err)
	_, kind, err := fileid.Decode(remote)
	require.NoError(t, err)
	require.Equal(t, fileid.KindAppender, kind)
}

func TestScenario02Download(t *testing.T) {
	sc := load(t, "02")
	t.Run("bytes", func(t *testing.T) {
		srv := clienttest.Start(t, sc)
		c := newClient(t, srv.TrackerAddr())
		b, err := c.DownloadBytes(ctx(t), helloID, 0, 0)
		require.NoError(t, err)
		require.Equal(t, helloContent, string(b))
	})
	t.Run("file", func(t *testing.T) {
		srv := clienttest.Start(t, sc)
		c := newClient(t, srv.TrackerAddr())
		dir := t.TempDir()
		p := filepath.Join(dir, "dl.txt")
		n, err := c.DownloadFile(ctx(t), helloID, p, 0, 0)
		require.NoError(t, err)
		require.EqualValues(t, len(helloContent), n)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.Equal(t, helloContent, string(b))
		ents, _ := os.ReadDir(dir)
		require.Len(t, ents, 1, "no temp file left behind")
	})
}

func TestScenario03RangeDownload(t *testing.T) {
	srv := clienttest.Start(t, load(t, "03"))
	c := newClient(t, srv.TrackerAddr())
	var buf bytes.Buffer
	n, err := c.Download(ctx(t), helloID, 6, 5, &buf)
	require.NoError(t, err)
	require.EqualValues(t, 5, n)
	require.Equal(t, "yunpa", buf.String())
}

func TestScenario04FileInfoLocal(t *testing.T) {
	sc := load(t, "04")
	srv := clienttest.Start(t, sc) // no captured connections: any contact fails
	c := newClient(t, srv.TrackerAddr())
	fi, err := c.FileInfo(ctx(t), helloID, FileInfoSilent)
	require.NoError(t, err)
	require.Equal(t, &FileInfo{
		Kind: fileid.KindNormal, SourceIP: "127.0.0.1",
		CreateTime: 0x6b06f0e7, Size: 13, CRC32: 0x3d50f691,
	}, fi)
	require.Equal(t, "normal", fi.TypeName())
	require.Zero(t, srv.Accepts(clienttest.Tracker))
	require.Zero(t, srv.Accepts(clienttest.Storage))
}

func TestScenario12FileInfoFromServer(t *testing.T) {
	// connections 3 and 4: QUERY_FETCH_ONE and QUERY_FILE_INFO of a slave file
	srv := clienttest.Start(t, load(t, "12"), 3, 4)
	c := newClient(t, srv.TrackerAddr())
	fi, err := c.FileInfo(ctx(t), "group1/M00/0B/00/fwAAAWsG8PeAULFrAAABLBtDLRM052_big.txt", 0)
	require.NoError(t, err)
	require.Equal(t, &FileInfo{
		Kind: fileid.KindSlave, GetFromServer: true, SourceIP: "127.0.0.1",
		CreateTime: 0x6b06f0f7, Size: 300, CRC32: 457387283,
	}, fi)
	require.Equal(t, "slave", fi.TypeName())
}

func TestScenario12UploadWithMetadata(t *testing.T) {
	// connection 1: UPLOAD_FILE, SET_METADATA 'O' and ACTIVE_TEST on one storage connection
	srv := clienttest.Start(t, load(t, "12"), 1)
	c := newClient(t, srv.TrackerAddr())
	content := strings.Repeat("x", 300)
	meta := []proto.Meta{{Name: "ext_name", Value: "jpg"}, {Name: "width", Value: "160"},
		{Name: "height", Value: "80"}, {Name: "file_size", Value: "115120"}}
	id, err := c.UploadWith(ctx(t), strings.NewReader(content), 300, "txt",
		UploadOptions{Storage: srv.StorageAddr(), PathIndex: 0, Meta: meta})
	require.NoError(t, err)
	require.Equal(t, "group1/M00/0B/00/fwAAAWsG8PeAULFrAAABLBtDLRM052.txt", id)
	require.NoError(t, c.ActiveTest(ctx(t), srv.StorageAddr()))
	require.Equal(t, 1, srv.Accepts(clienttest.Storage), "metadata and active test reuse the upload connection")
}

func TestScenario05Delete(t *testing.T) {
	srv := clienttest.Start(t, load(t, "05"))
	c := newClient(t, srv.TrackerAddr())
	require.NoError(t, c.Delete(ctx(t), helloID))
}

func TestScenario06DownloadMissing(t *testing.T) {
	sc := load(t, "06")
	t.Run("bytes", func(t *testing.T) {
		srv := clienttest.Start(t, sc)
		c := newClient(t, srv.TrackerAddr())
		_, err := c.DownloadBytes(ctx(t), helloID, 0, 0)
		require.Error(t, err)
		require.Equal(t, proto.StatusENOENT, proto.StatusOf(err))
		require.True(t, errors.Is(err, syscall.ENOENT))
	})
	t.Run("file", func(t *testing.T) {
		srv := clienttest.Start(t, sc)
		c := newClient(t, srv.TrackerAddr())
		dir := t.TempDir()
		_, err := c.DownloadFile(ctx(t), helloID, filepath.Join(dir, "gone.txt"), 0, 0)
		require.Equal(t, proto.StatusENOENT, proto.StatusOf(err))
		ents, _ := os.ReadDir(dir)
		require.Empty(t, ents, "nothing written for a missing file")
	})
}

func TestScenario07DeleteMissing(t *testing.T) {
	srv := clienttest.Start(t, load(t, "07"))
	c := newClient(t, srv.TrackerAddr())
	err := c.Delete(ctx(t), helloID)
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "%v", err)
	// ENOENT is a clean reply: the storage connection stays pooled
	require.Equal(t, 1, c.pool.idleCount(srv.StorageAddr()))
}

func TestScenario11List(t *testing.T) {
	srv := clienttest.Start(t, load(t, "11"))
	c := newClient(t, srv.TrackerAddr())
	gs, err := c.ListGroups(ctx(t), "")
	require.NoError(t, err)
	require.Len(t, gs, 1)
	g := gs[0]
	require.Equal(t, "group1", g.Name)
	require.EqualValues(t, 0x3efe3, g.TotalMB)
	require.EqualValues(t, 23000, g.StoragePort)
	require.EqualValues(t, -1, g.CurrentTrunkFileID)
	ss, err := c.ListStorage(ctx(t), srv.TrackerAddr(), g.Name, "")
	require.NoError(t, err)
	require.Len(t, ss, 1)
	require.Equal(t, "127.0.0.1", ss[0].ID)
	require.Equal(t, proto.StatusActive, ss[0].Status)
	require.Equal(t, "6.16.1", ss[0].Version)
	require.EqualValues(t, 281642, ss[0].Stat.Counters[proto.StatTotalUpload])
	require.Equal(t, 1, srv.Accepts(clienttest.Tracker), "both lists on one pooled connection, as captured")
}

func TestScenario13UnknownCommand(t *testing.T) {
	srv := clienttest.Start(t, load(t, "13"))
	c := newClient(t, srv.TrackerAddr())
	err := c.withConn(ctx(t), srv.TrackerAddr(), func(cn *conn) error {
		_, err := cn.roundTrip(250, 0, nil, 0)
		return err
	})
	require.Equal(t, proto.StatusEINVAL, proto.StatusOf(err))
	require.Zero(t, c.pool.idleCount(srv.TrackerAddr()), "a header-only EINVAL reply kills the connection")
}

func TestScenario14ActiveTestAndQuit(t *testing.T) {
	srv := clienttest.Start(t, load(t, "14"))
	c := newClient(t, srv.TrackerAddr())
	require.NoError(t, c.ActiveTest(ctx(t), srv.TrackerAddr()))
	c.Close() // says QUIT on the idle connection: the capture's second packet
	srv.Close()
	require.Empty(t, srv.Errors())
	require.Zero(t, srv.Remaining(clienttest.Tracker))
}
