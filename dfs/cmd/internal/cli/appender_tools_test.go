package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/client"
	"yunpan/dfs/client/clienttest"
	"yunpan/dfs/proto"
	"yunpan/internal/vectors"
)

// The appender file of scenarios 08–10.
const appenderID = "group1/M00/0B/00/fwAAAWsG8PGEbDYcAAAAAD1Q9pE766.txt"

func TestToolUploadAppender(t *testing.T) {
	sc := load(t, "08")
	require.Equal(t, "0", sc.Exit)
	t.Run("08", func(t *testing.T) {
		srv := clienttest.Start(t, sc)
		dir := workdir(t, srv.TrackerAddr())
		require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(helloContent), 0o644))
		r := run(t, dir, "fdfs_upload_appender", "client.conf", "hello.txt")
		require.Equal(t, result{stdout: printed(sc)}, r)
	})
	t.Run("missing local file", func(t *testing.T) {
		srv := clienttest.Start(t, sc, 0)
		r := run(t, workdir(t, srv.TrackerAddr()), "fdfs_upload_appender", "client.conf", "nope.txt")
		require.Equal(t, result{stderr: "upload file fail, error no: 2, error info: No such file or directory\n", code: 2}, r)
	})
	t.Run("tracker down", func(t *testing.T) {
		dir := workdir(t, deadAddr(t))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(helloContent), 0o644))
		r := run(t, dir, "fdfs_upload_appender", "client.conf", "hello.txt")
		require.Equal(t, result{stderr: "tracker_query_storage fail, error no: 111, error info: Connection refused\n", code: 111}, r)
	})
}

func TestToolAppendFile(t *testing.T) {
	t.Run("09", func(t *testing.T) {
		sc := load(t, "09")
		srv := clienttest.Start(t, sc)
		dir := workdir(t, srv.TrackerAddr())
		require.NoError(t, os.WriteFile(filepath.Join(dir, "tail.txt"), []byte("appended part\n"), 0o644))
		r := run(t, dir, "fdfs_append_file", "client.conf", appenderID, "tail.txt")
		require.Equal(t, result{stdout: printed(sc)}, r)
	})
	t.Run("not an appender file: line on stdout, exit errno", func(t *testing.T) {
		sc := load(t, "09")
		body := sc.Conns[1].Packets[0].Body
		srv := clienttest.Start(t, &vectors.Scenario{Conns: []vectors.Conn{sc.Conns[0],
			{Server: "127.0.0.1:23000", Packets: []vectors.Packet{req(proto.CmdAppendFile, body), resp(proto.StatusEINVAL, nil)}}}})
		dir := workdir(t, srv.TrackerAddr())
		require.NoError(t, os.WriteFile(filepath.Join(dir, "tail.txt"), []byte("appended part\n"), 0o644))
		r := run(t, dir, "fdfs_append_file", "client.conf", appenderID, "tail.txt")
		require.Equal(t, result{stdout: "append file fail, error no: 22, error info: Invalid argument\n", code: 22}, r)
	})
	t.Run("missing local file", func(t *testing.T) {
		r := run(t, workdir(t, deadAddr(t)), "fdfs_append_file", "client.conf", appenderID, "nope.txt")
		require.Equal(t, result{stdout: "append file fail, error no: 2, error info: No such file or directory\n", code: 2}, r)
	})
}

func TestToolRegenerateFilename(t *testing.T) {
	t.Run("10", func(t *testing.T) {
		sc := load(t, "10")
		srv := clienttest.Start(t, sc)
		r := run(t, workdir(t, srv.TrackerAddr()), "fdfs_regenerate_filename", "client.conf", appenderID)
		require.Equal(t, result{stdout: printed(sc)}, r)
	})
	t.Run("missing: stderr, exit errno", func(t *testing.T) {
		sc := load(t, "10")
		srv := clienttest.Start(t, &vectors.Scenario{Conns: []vectors.Conn{sc.Conns[0],
			{Server: "127.0.0.1:23000", Packets: []vectors.Packet{sc.Conns[1].Packets[0], resp(proto.StatusENOENT, nil)}}}})
		r := run(t, workdir(t, srv.TrackerAddr()), "fdfs_regenerate_filename", "client.conf", appenderID)
		require.Equal(t, result{stderr: "regenerate file " + appenderID + " fail, error no: 2, error info: No such file or directory\n", code: 2}, r)
	})
}

// fdfsTest12 is scenario 12 as one connection per server: our client pools
// connections, so the requests the C tool spread over five connections
// arrive, in the same order and with the same bytes, on two.
func fdfsTest12(t *testing.T) *vectors.Scenario {
	sc := load(t, "12")
	cat := func(parts ...[]vectors.Packet) []vectors.Packet {
		var out []vectors.Packet
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	c := sc.Conns
	return &vectors.Scenario{Conns: []vectors.Conn{
		{Server: c[0].Server, Packets: cat(c[0].Packets[:6], c[3].Packets, c[0].Packets[6:])},
		{Server: c[1].Server, Packets: cat(c[1].Packets[:4], c[2].Packets, c[4].Packets, c[1].Packets[4:])},
	}}
}

func TestToolFdfsTestUpload(t *testing.T) {
	sc := load(t, "12")
	srv := clienttest.Start(t, fdfsTest12(t))
	dir := workdir(t, srv.TrackerAddr())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "slave.txt"), []byte(strings.Repeat("x", 300)), 0o644))
	// The example URL has no port, whatever the HTTP port (as the C tool).
	cf, err := os.OpenFile(filepath.Join(dir, "client.conf"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = cf.WriteString("\nhttp.tracker_server_port = 8080\n")
	require.NoError(t, err)
	require.NoError(t, cf.Close())
	r := run(t, dir, "fdfs_test", "client.conf", "upload", "slave.txt")
	// The replay storage listens on another port than the captured 23000.
	_, port, _ := strings.Cut(srv.StorageAddr(), ":")
	want := strings.ReplaceAll(printed(sc), "port=23000", "port="+port)
	require.Equal(t, result{stdout: want}, r)
	require.Equal(t, 1, srv.Accepts(clienttest.Tracker))
	require.Equal(t, 1, srv.Accepts(clienttest.Storage))
}

func TestToolFdfsTestUsage(t *testing.T) {
	dir := t.TempDir()
	r := run(t, dir, "fdfs_test")
	require.Equal(t, result{stdout: FdfsTestBanner + FdfsTestUsage, code: 1}, r)
	require.True(t, strings.HasPrefix(r.stdout, "This is FastDFS client test program v6.16.1\n\nCopyright (C) 2008"))

	wd := workdir(t, deadAddr(t))
	r = run(t, wd, "fdfs_test", "client.conf", "frobnicate")
	require.Equal(t, result{stdout: FdfsTestBanner + "invalid operation: frobnicate\n", code: 22}, r)
	r = run(t, wd, "fdfs_test", "client.conf", "delete", "group1")
	require.Equal(t, result{stdout: FdfsTestBanner + "Usage: fdfs_test <config_file> delete <group_name> <remote_filename>\n", code: 22}, r)
	r = run(t, wd, "fdfs_test", "client.conf", "setmeta", "group1", "M00/00/00/x")
	require.Contains(t, r.stdout, "<op_flag> <metadata_list>\n\top_flag: O for overwrite, M for merge\n")
	require.Equal(t, 22, r.code)
	r = run(t, wd, "fdfs_test", "client.conf", "delete", "group1", "M00/0B/00/fwAAAWsG8PGEbDYcAAAAAD1Q9pE766.txt")
	require.Equal(t, result{stdout: FdfsTestBanner + "tracker_query_storage_fetch fail, group_name=group1, " +
		"filename=M00/0B/00/fwAAAWsG8PGEbDYcAAAAAD1Q9pE766.txt, error no: 111, error info: Connection refused\n", code: 111}, r)
}

func TestToolNewUsages(t *testing.T) {
	dir := t.TempDir()
	for tool, usage := range map[string]string{
		"fdfs_upload_appender": UploadAppenderUsage, "fdfs_append_file": AppendUsage,
		"fdfs_regenerate_filename": RegenerateUsage,
	} {
		require.Equal(t, result{stdout: usage, code: 1}, run(t, dir, tool), tool)
	}
}

func TestParseResumableEnv(t *testing.T) {
	rc, err := parseResumableEnv("")
	require.NoError(t, err)
	require.False(t, rc.on)
	rc, err = parseResumableEnv("1")
	require.NoError(t, err)
	require.Equal(t, resumableConfig{on: true, min: ProgressMin}, rc)
	rc, err = parseResumableEnv("min=1M, part=256K,parallel=4,rate=8M,state=/tmp/s")
	require.NoError(t, err)
	require.Equal(t, resumableConfig{on: true, min: 1 << 20, opts: client.ResumableOptions{
		PartSize: 256 << 10, Parallel: 4, RateLimit: 8 << 20, StateDir: "/tmp/s"}}, rc)
	for _, bad := range []string{"min", "part=x", "colour=blue", "parallel=two"} {
		_, err = parseResumableEnv(bad)
		require.Error(t, err, bad)
	}
}

// TestUploadMainDefault: without the environment variable and without a
// terminal, fdfs_upload_file behaves exactly as before (scenario 01).
func TestUploadMainDefault(t *testing.T) {
	sc := load(t, "01")
	srv := clienttest.Start(t, sc)
	dir := workdir(t, srv.TrackerAddr())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(helloContent), 0o644))
	// A resumable request for big files only leaves a 13-byte file alone.
	t.Setenv(ResumableEnv, "1")
	r := run(t, dir, "fdfs_upload_file", "client.conf", "hello.txt")
	require.Equal(t, result{stdout: printed(sc)}, r)
	t.Setenv(ResumableEnv, "bogus")
	r = run(t, dir, "fdfs_upload_file", "client.conf", "hello.txt")
	require.Equal(t, 22, r.code)
	require.Contains(t, r.stderr, ResumableEnv)
}

func TestProgressBar(t *testing.T) {
	var b strings.Builder
	pb := newProgressBar(&b)
	pb.update(0, 100<<20)
	pb.update(50<<20, 100<<20)
	pb.update(100<<20, 100<<20)
	pb.finish()
	out := b.String()
	require.True(t, strings.HasPrefix(out, "\r[>"), out)
	require.Contains(t, out, "[==============================] 100.0%  100.0/100.0 MiB")
	require.True(t, strings.HasSuffix(out, "\n"))
	require.Equal(t, 1, strings.Count(out, "\n"))
}
