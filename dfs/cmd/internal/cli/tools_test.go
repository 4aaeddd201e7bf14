package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/client/clienttest"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
	"yunpan/internal/vectors"
)

// binDir holds the tools (cluster.Bin: $YUNPAN_BIN or built once).
var binDir string

func TestMain(m *testing.M) {
	binDir = cluster.Bin(&cluster.Runner{}) // a failed build ends the test binary
	os.Exit(m.Run())
}

const (
	helloID      = "group1/M00/0B/00/fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt"
	helloContent = "hello yunpan\n"
)

type result struct {
	stdout, stderr string
	code           int
}

// run runs a tool in dir with TZ=UTC: the captures were made on a UTC host
// (their epoch-0 timestamps print as 1970-01-01 00:00:00).
func run(t *testing.T, dir, tool string, args ...string) result {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, tool), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return r
}

// workdir makes a directory with a client.conf pointing at tracker.
func workdir(t *testing.T, trackers ...string) string {
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "connect_timeout = 2\nnetwork_timeout = 5\nbase_path = %s\nlog_level = error\n", dir)
	for _, tr := range trackers {
		fmt.Fprintf(&b, "tracker_server = %s\n", tr)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "client.conf"), []byte(b.String()), 0o644))
	return dir
}

func load(t *testing.T, name string) *vectors.Scenario {
	sc, err := vectors.Load(name)
	require.NoError(t, err)
	return sc
}

// printed is what the captured tool printed, without the C logger's
// "[date] ERROR - …" lines, as one newline-terminated text.
func printed(sc *vectors.Scenario) string {
	var lines []string
	for _, l := range sc.Output {
		if strings.HasPrefix(l, "[") && strings.Contains(l, "] ERROR - ") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestToolUpload(t *testing.T) {
	sc := load(t, "01")
	require.Equal(t, "0", sc.Exit)
	t.Run("via tracker", func(t *testing.T) {
		srv := clienttest.Start(t, sc)
		dir := workdir(t, srv.TrackerAddr())
		require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(helloContent), 0o644))
		r := run(t, dir, "fdfs_upload_file", "client.conf", "hello.txt")
		require.Equal(t, result{stdout: printed(sc)}, r)
	})
	t.Run("direct to storage", func(t *testing.T) {
		srv := clienttest.Start(t, sc, 1)
		dir := workdir(t, srv.TrackerAddr())
		require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(helloContent), 0o644))
		r := run(t, dir, "fdfs_upload_file", "client.conf", "hello.txt", srv.StorageAddr(), "0")
		require.Equal(t, result{stdout: printed(sc)}, r)
		require.Zero(t, srv.Accepts(clienttest.Tracker))
	})
	t.Run("missing local file", func(t *testing.T) {
		srv := clienttest.Start(t, sc, 0)
		dir := workdir(t, srv.TrackerAddr())
		r := run(t, dir, "fdfs_upload_file", "client.conf", "nope.txt")
		require.Equal(t, result{stderr: "upload file fail, error no: 2, error info: No such file or directory\n", code: 2}, r)
	})
	t.Run("tracker down", func(t *testing.T) {
		dir := workdir(t, deadAddr(t))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(helloContent), 0o644))
		r := run(t, dir, "fdfs_upload_file", "client.conf", "hello.txt")
		require.Equal(t, result{stderr: "tracker_query_storage fail, error no: 111, error info: Connection refused\n", code: 111}, r)
	})
}

func TestToolDownload(t *testing.T) {
	t.Run("02 whole file", func(t *testing.T) {
		sc := load(t, "02")
		srv := clienttest.Start(t, sc)
		dir := workdir(t, srv.TrackerAddr())
		r := run(t, dir, "fdfs_download_file", "client.conf", helloID, "dl.txt")
		require.Equal(t, result{stdout: printed(sc)}, r)
		b, err := os.ReadFile(filepath.Join(dir, "dl.txt"))
		require.NoError(t, err)
		require.Equal(t, helloContent, string(b))
	})
	t.Run("02 default local name", func(t *testing.T) {
		srv := clienttest.Start(t, load(t, "02"))
		dir := workdir(t, srv.TrackerAddr())
		r := run(t, dir, "fdfs_download_file", "client.conf", helloID)
		require.Equal(t, result{}, r)
		b, err := os.ReadFile(filepath.Join(dir, "fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt"))
		require.NoError(t, err)
		require.Equal(t, helloContent, string(b))
	})
	t.Run("03 range", func(t *testing.T) {
		sc := load(t, "03")
		srv := clienttest.Start(t, sc)
		dir := workdir(t, srv.TrackerAddr())
		r := run(t, dir, "fdfs_download_file", "client.conf", helloID, "part.txt", "6", "5")
		require.Equal(t, result{stdout: printed(sc)}, r)
		b, err := os.ReadFile(filepath.Join(dir, "part.txt"))
		require.NoError(t, err)
		require.Equal(t, "yunpa", string(b))
	})
	t.Run("06 missing: line on stdout, exit 0", func(t *testing.T) {
		sc := load(t, "06")
		require.Equal(t, "0", sc.Exit)
		srv := clienttest.Start(t, sc)
		dir := workdir(t, srv.TrackerAddr())
		r := run(t, dir, "fdfs_download_file", "client.conf", helloID, "gone.txt")
		require.Equal(t, result{stdout: "download file fail, error no: 2, error info: No such file or directory\n"}, r)
		require.Equal(t, printed(sc), r.stdout)
		require.NoFileExists(t, filepath.Join(dir, "gone.txt"))
	})
}

func TestToolDelete(t *testing.T) {
	t.Run("05", func(t *testing.T) {
		sc := load(t, "05")
		srv := clienttest.Start(t, sc)
		r := run(t, workdir(t, srv.TrackerAddr()), "fdfs_delete_file", "client.conf", helloID)
		require.Equal(t, result{stdout: printed(sc)}, r)
	})
	t.Run("07 missing: exit errno", func(t *testing.T) {
		sc := load(t, "07")
		require.Equal(t, "2", sc.Exit)
		srv := clienttest.Start(t, sc)
		r := run(t, workdir(t, srv.TrackerAddr()), "fdfs_delete_file", "client.conf", helloID)
		require.Equal(t, result{stdout: printed(sc), code: 2}, r)
	})
}

func TestToolFileInfo(t *testing.T) {
	t.Run("04 decoded locally", func(t *testing.T) {
		sc := load(t, "04")
		srv := clienttest.Start(t, sc)
		r := run(t, workdir(t, srv.TrackerAddr()), "fdfs_file_info", "-s", "client.conf", helloID)
		// the capture drops the block's final empty line (§9.6)
		require.Equal(t, result{stdout: printed(sc) + "\n"}, r)
		require.Zero(t, srv.Accepts(clienttest.Tracker)+srv.Accepts(clienttest.Storage), "no server contacted")
	})
	t.Run("12 slave: from the storage", func(t *testing.T) {
		srv := clienttest.Start(t, load(t, "12"), 3, 4)
		r := run(t, workdir(t, srv.TrackerAddr()), "fdfs_file_info", "client.conf",
			"group1/M00/0B/00/fwAAAWsG8PeAULFrAAABLBtDLRM052_big.txt")
		require.Equal(t, result{stdout: "GET FROM SERVER: true\n\nfile type: slave\nsource storage id: 0\n" +
			"source ip address: 127.0.0.1\nfile create timestamp: 2026-11-25 14:30:15\n" +
			"file size: 300\nfile crc32: 457387283 (0x1b432d13)\n\n"}, r)
	})
	t.Run("bad id: stderr, exit 0", func(t *testing.T) {
		r := run(t, workdir(t, deadAddr(t)), "fdfs_file_info", "client.conf", "group1/short")
		require.Equal(t, result{stderr: "query file info fail, error no: 22, error info: Invalid argument\n"}, r)
	})
}

func TestToolMonitorList(t *testing.T) {
	sc := load(t, "11")
	srv := clienttest.Start(t, sc)
	r := run(t, workdir(t, srv.TrackerAddr()), "fdfs_monitor", "client.conf")
	want := strings.Replace(printed(sc), "tracker server is 127.0.0.2:22122", "tracker server is "+srv.TrackerAddr(), 1)
	require.Equal(t, result{stdout: want}, r)
	require.Equal(t, 1, srv.Accepts(clienttest.Tracker))

	t.Run("-h must name a configured tracker", func(t *testing.T) {
		r := run(t, workdir(t, deadAddr(t)), "fdfs_monitor", "client.conf", "-h", "127.0.0.9:1", "list")
		require.Equal(t, 2, r.code)
		require.Contains(t, r.stderr, "127.0.0.9:1")
	})
}

// script is a hand-made capture for commands the vectors do not cover.
func script(pkts ...vectors.Packet) *vectors.Scenario {
	return &vectors.Scenario{Conns: []vectors.Conn{{Server: "127.0.0.2:22122", Packets: pkts}}}
}

func req(cmd byte, body []byte) vectors.Packet {
	return vectors.Packet{FromClient: true, Header: proto.Header{PkgLen: int64(len(body)), Cmd: cmd}, Body: body}
}

func resp(status byte, body []byte) vectors.Packet {
	return vectors.Packet{Header: proto.Header{PkgLen: int64(len(body)), Cmd: proto.CmdResp, Status: status}, Body: body}
}

func group16(g string) []byte { return (&proto.Buf{}).Fixed(g, 16).B }

func TestToolMonitorDelete(t *testing.T) {
	t.Run("group busy", func(t *testing.T) {
		srv := clienttest.Start(t, script(req(proto.CmdServerDeleteGroup, group16("group1")), resp(proto.StatusEBUSY, nil)))
		r := run(t, workdir(t, srv.TrackerAddr()), "fdfs_monitor", "client.conf", "delete", "group1")
		require.Equal(t, result{stdout: "delete group: group1 fail, error no: 16, error info: Device or resource busy\n"}, r)
	})
	t.Run("group", func(t *testing.T) {
		srv := clienttest.Start(t, script(req(proto.CmdServerDeleteGroup, group16("group2")), resp(0, nil)))
		r := run(t, workdir(t, srv.TrackerAddr()), "fdfs_monitor", "client.conf", "delete", "group2")
		require.Equal(t, result{stdout: "delete group: group2 success\n"}, r)
	})
	t.Run("offline storage", func(t *testing.T) {
		st := proto.StorageStat{Status: proto.StatusOffline, ID: "127.0.0.3", IP: "127.0.0.3", StoragePort: 23000}
		w := &proto.Buf{}
		st.Append(w, proto.IPv4Size)
		body := append(group16("group1"), "127.0.0.3"...)
		srv := clienttest.Start(t, script(
			req(proto.CmdServerListStorage, body), resp(0, w.B),
			req(proto.CmdServerDeleteStorage, body), resp(0, nil)))
		r := run(t, workdir(t, srv.TrackerAddr()), "fdfs_monitor", "client.conf", "delete", "group1", "127.0.0.3")
		require.Equal(t, result{stdout: "delete storage server group1::127.0.0.3 success\n"}, r)
	})
	t.Run("active storage: EBUSY without asking to delete", func(t *testing.T) {
		st := proto.StorageStat{Status: proto.StatusActive, ID: "127.0.0.1", IP: "127.0.0.1", StoragePort: 23000}
		w := &proto.Buf{}
		st.Append(w, proto.IPv4Size)
		body := append(group16("group1"), "127.0.0.1"...)
		srv := clienttest.Start(t, script(req(proto.CmdServerListStorage, body), resp(0, w.B)))
		r := run(t, workdir(t, srv.TrackerAddr()), "fdfs_monitor", "client.conf", "delete", "group1", "127.0.0.1")
		require.Equal(t, result{stdout: "delete storage server group1::127.0.0.1 fail, error no: 16, error info: Device or resource busy\n"}, r)
	})
}

func TestToolUsage(t *testing.T) {
	dir := t.TempDir()
	for tool, usage := range map[string]string{
		"fdfs_upload_file": UploadUsage, "fdfs_download_file": DownloadUsage,
		"fdfs_delete_file": DeleteUsage, "fdfs_file_info": FileInfoUsage, "fdfs_crc32": CRC32Usage,
	} {
		require.Equal(t, result{stdout: usage, code: 1}, run(t, dir, tool), tool)
	}
	require.Equal(t, result{stdout: FileInfoUsage, code: 1}, run(t, dir, "fdfs_file_info", "-x", "a", "b"))
	r := run(t, workdir(t, deadAddr(t)), "fdfs_monitor", "client.conf", "frobnicate")
	require.Equal(t, result{stdout: "Invalid command frobnicate\n\n" + MonitorUsage, code: 1}, r)
}

func TestToolCRC32(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(helloContent), 0o644))
	// the CRC in scenario 04's file name: 0x3d50f691
	require.Equal(t, result{stdout: "3d50f691\n"}, run(t, dir, "fdfs_crc32", "hello.txt"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644))
	require.Equal(t, result{stdout: "0\n"}, run(t, dir, "fdfs_crc32", "empty"))
	r := run(t, dir, "fdfs_crc32", "nope")
	require.Equal(t, 2, r.code)
}

func TestToolBadConfig(t *testing.T) {
	r := run(t, t.TempDir(), "fdfs_delete_file", "missing.conf", helloID)
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "missing.conf")
}
