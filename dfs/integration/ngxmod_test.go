package integration

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// defaultNginxModuleBin is where docs/trunk.md builds an Nginx with
// FastDFS's own module (fastdfs-nginx-module) compiled in.
const defaultNginxModuleBin = "/tmp/ngxfdfs/nginx/sbin/nginx"

// nginxModuleBin returns the module-enabled Nginx: env
// FDFS_NGINX_MODULE_BIN, else defaultNginxModuleBin; the test is skipped
// without it.
func nginxModuleBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("FDFS_NGINX_MODULE_BIN")
	if bin == "" {
		bin = defaultNginxModuleBin
	}
	b, err := os.ReadFile(bin)
	if err != nil || !bytes.Contains(b, []byte("ngx_fastdfs_module")) {
		t.Skipf("no Nginx with fastdfs-nginx-module at %s (build one as docs/trunk.md says and set FDFS_NGINX_MODULE_BIN to it): serving our store paths with FastDFS's Nginx module not checked", bin)
	}
	return bin
}

// modNginx is a module-enabled Nginx started by a test.
type modNginx struct {
	base, dir string
	cmd       *exec.Cmd
	done      chan struct{}
}

func (n *modNginx) log() string {
	out, _ := os.ReadFile(filepath.Join(n.dir, "stderr.log"))
	b, _ := os.ReadFile(filepath.Join(n.dir, "logs", "error.log"))
	m, _ := os.ReadFile(filepath.Join(n.dir, "logs", "mod_fastdfs.log"))
	a, _ := os.ReadFile(filepath.Join(n.dir, "logs", "access.log"))
	return string(out) + string(b) + string(m) + string(a)
}

// modTarget is the storage of group1 whose host the module is deployed on.
type modTarget struct {
	tracker  string // ip:port
	addr     string // the storage's ip:port
	port     int    // the storage's port
	store    string // its store_path0
	stop     func() // stops the storage (and any other of the group)
	log      func() string
	replicas map[string][]byte // files another storage wrote, already here
}

// startModNginx runs bin in the foreground on a free port of ip, serving
// group1's files from m's store path the way an operator deploys the module
// on a storage host: mod_fastdfs.conf names the tracker, the group, the
// storage's port and store path; the module reads it from the directory
// Nginx starts in (docs/trunk.md builds it so). Stopped when the test ends.
func startModNginx(t *testing.T, bin, ip string, m modTarget) *modNginx {
	t.Helper()
	dir := t.TempDir()
	port := cluster.FreePort(t, ip)
	n := &modNginx{base: fmt.Sprintf("http://%s:%d", ip, port), dir: dir}
	write := func(name, s string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "logs"), 0o755))
	write("mime.types", "types {\n    text/plain txt;\n    image/jpeg jpg;\n    application/octet-stream bin;\n}\n")
	write("http.conf", "http.default_content_type = application/octet-stream\nhttp.mime_types_filename = mime.types\nhttp.anti_steal.check_token = false\n")
	write("mod_fastdfs.conf", strings.Join([]string{
		"connect_timeout = 5",
		"network_timeout = 30",
		"base_path = " + dir,
		"load_fdfs_parameters_from_tracker = true",
		"tracker_server = " + m.tracker,
		"storage_server_port = " + strconv.Itoa(m.port),
		"group_name = group1",
		"url_have_group_name = true",
		"store_path_count = 1",
		"store_path0 = " + m.store,
		"log_level = info",
		"log_filename = " + filepath.Join(dir, "logs", "mod_fastdfs.log"),
		"response_mode = proxy",
		"if_alias_prefix =",
		"#include http.conf",
		"flv_support = false",
		"group_count = 0",
		"",
	}, "\n"))
	usr := ""
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		usr = "user root root;\n" // workers read the store path as the storage wrote it
	}
	write("nginx.conf", usr+`worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events { worker_connections 64; }
http {
    default_type application/octet-stream;
    access_log logs/access.log;
    server {
        listen `+fmt.Sprintf("%s:%d", ip, port)+`;
        location /group1/M00 {
            ngx_fastdfs_module;
        }
    }
}
`)
	n.cmd = exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	n.cmd.Dir = dir
	n.done = runNginx(t, n.cmd, filepath.Join(dir, "stderr.log"), n.base, n.log)
	return n
}

// FastDFS's Nginx module, deployed on a storage host, serves our storage's
// files from its store path as it serves a C storage's (the control):
// normal files, slaves, trunk-resident files of every slot size and
// extension length (read in the trunk file at the slot's offset once the
// slot's header matches the name), ranges of them, and 404 for a deleted
// file, a slot reused by another file, and a name that never existed.
func TestNginxModuleServesStorePath(t *testing.T) {
	bin := nginxModuleBin(t)
	// The storage the module serves runs on 127.0.0.1, an address of this
	// host's interfaces: the module then knows itself the source storage of
	// the files written there and answers 404 for one it does not find,
	// where for another source it would proxy the request to that
	// storage's host (its Nginx).
	t.Run("our storage", func(t *testing.T) {
		tr := cluster.StartTracker(t, "127.0.0.218", trunkTracker)
		port := cluster.SharedPort(t, "127.0.0.1", "127.0.0.219")
		over := map[string]string{"port": strconv.Itoa(port)}
		st := cluster.StartStorage(t, "127.0.0.1", "group1", []*cluster.Proc{tr}, over)
		other := cluster.StartStorage(t, "127.0.0.219", "group1", []*cluster.Proc{tr}, over)
		cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
		cluster.WaitStatus(t, tr, "group1", other, proto.StatusActive, 30*time.Second)
		m := modTarget{tracker: tr.Addr(), addr: st.Addr(), port: port, store: st.Base, log: st.Log,
			stop: func() { other.Stop(); st.Stop() }, replicas: map[string][]byte{}}
		// Files written by the other storage and replicated here (their
		// slots written by the sync): with their source stopped too, the
		// module can only have them from this disk.
		c := hzNewClient(t, tr)
		defer c.Close()
		for i, ext := range []string{"txt", "", "jpeg"} {
			b := randBytes(300 + i*2000)
			var id string
			require.Eventually(t, func() bool {
				var err error
				id, err = c.UploadTo(tctx(t), other.Addr(), -1, bytes.NewReader(b), int64(len(b)), ext)
				_, ok := isTrunkID(id)
				return err == nil && ok
			}, 60*time.Second, 100*time.Millisecond, "no trunk-resident upload\n%s", other.Log())
			waitContent(t, st, id, b)
			m.replicas[id] = b
		}
		b := randBytes(40 << 10)
		id, err := c.UploadTo(tctx(t), other.Addr(), -1, bytes.NewReader(b), int64(len(b)), "bin")
		require.NoError(t, err)
		waitContent(t, st, id, b)
		m.replicas[id] = b
		nginxModuleCheck(t, bin, tr, m)
	})
	t.Run("C storage", func(t *testing.T) {
		cbin := cFastDFS(t)
		trPort := cluster.FreePort(t, "127.0.0.220")
		ctr := startC(t, cbin, "fdfs_trackerd", "127.0.0.220", trPort, cTrunkTrackerKV())
		cst := startC(t, cbin, "fdfs_storaged", "127.0.0.1", cluster.FreePort(t, "127.0.0.1"),
			[][2]string{{"tracker_server", ctr.addr}, {"group_name", "group1"}})
		t.Cleanup(ctr.stop)
		_, p, _ := net.SplitHostPort(cst.addr)
		port, _ := strconv.Atoi(p)
		nginxModuleCheck(t, bin, &cluster.Proc{IP: "127.0.0.220", Port: trPort},
			modTarget{tracker: ctr.addr, addr: cst.addr, port: port, store: cst.base, stop: cst.stop, log: cst.log})
	})
}

// nginxModuleCheck writes files through m's storage, stops the group,
// and reads them with the module from m's store path.
func nginxModuleCheck(t *testing.T, bin string, tr *cluster.Proc, m modTarget) {
	c := hzNewClient(t, tr)
	t.Cleanup(c.Close)
	ctx := tctx(t)
	files := map[string][]byte{}
	trunk := func(size int, ext string) string {
		t.Helper()
		b := randBytes(size)
		id, err := c.UploadTo(ctx, m.addr, -1, bytes.NewReader(b), int64(len(b)), ext)
		require.NoError(t, err)
		_, ok := isTrunkID(id)
		require.True(t, ok, "%s is not trunk-resident", id)
		files[id] = b
		return id
	}
	// Uploads are normal files until the storage knows its trunk server.
	require.Eventually(t, func() bool {
		b := randBytes(1000)
		id, err := c.UploadTo(ctx, m.addr, -1, bytes.NewReader(b), int64(len(b)), "txt")
		if err != nil {
			return false
		}
		files[id] = b
		_, ok := isTrunkID(id)
		return ok
	}, 60*time.Second, 100*time.Millisecond, "no trunk-resident upload\n%s", m.log())
	// The smallest slot, no extension, the longest extension, the largest slot.
	ranged := trunk(100, "")
	trunk(5000, "jpeg")
	trunk(6000, "abcdef")
	// Largest slots until the first trunk file is full and the next one
	// is written (at another trunk ID, in another directory).
	for {
		id := trunk(16<<10-24, "bin")
		if ti, _ := isTrunkID(id); ti.TrunkID > 1 {
			break
		}
		require.Less(t, len(files), 400, "4 MB trunk file not full after %d files", len(files))
	}
	big := randBytes(100 << 10)
	bigID, err := c.UploadTo(ctx, m.addr, -1, bytes.NewReader(big), int64(len(big)), "bin")
	require.NoError(t, err)
	_, ok := isTrunkID(bigID)
	require.False(t, ok, bigID)
	files[bigID] = big
	slave := randBytes(3000)
	slaveID, err := c.UploadSlaveBuffer(ctx, bigID, "_s", "txt", slave)
	require.NoError(t, err)
	files[slaveID] = slave
	// A slave of a trunk-resident master is a normal file whose name
	// carries the master's slot.
	slave = randBytes(2500)
	slaveID, err = c.UploadSlaveBuffer(ctx, ranged, "_t", "txt", slave)
	require.NoError(t, err)
	files[slaveID] = slave

	// Deleted: a normal file, a trunk-resident one, and one whose slot was
	// taken again by a file of the same size.
	gone := randBytes(50 << 10)
	goneID, err := c.UploadTo(ctx, m.addr, -1, bytes.NewReader(gone), int64(len(gone)), "bin")
	require.NoError(t, err)
	goneTrunk := trunk(700, "txt")
	reusedOld := trunk(800, "txt")
	var missing []string
	for _, id := range []string{goneID, goneTrunk, reusedOld} {
		require.NoError(t, c.Delete(ctx, id))
		delete(files, id)
		missing = append(missing, id)
	}
	reused := trunk(800, "txt")
	oldSlot, _ := isTrunkID(reusedOld)
	newSlot, _ := isTrunkID(reused)
	require.Equal(t, [2]int32{oldSlot.TrunkID, oldSlot.Offset}, [2]int32{newSlot.TrunkID, newSlot.Offset}, "the freed slot was not reused")
	// A name that never existed: the last one's with another CRC32 (bytes
	// 16-19 of the 20 the 27-character block encodes; its characters 22-24
	// are in them). Same slot, so the module must compare the header.
	n := len(reused) - 7 - 16 - 27 + 22
	other := reused[:n] + "AAA" + reused[n+3:]
	if other == reused {
		other = reused[:n] + "BBB" + reused[n+3:]
	}
	missing = append(missing, other)

	// The module reads the files from the disk: the storage is stopped.
	m.stop()
	ng := startModNginx(t, bin, "127.0.0.1", m)
	maps.Copy(files, m.replicas)
	for id, b := range files {
		r := fetch(t, ng.base, "/"+id)
		require.Equal(t, http.StatusOK, r.code, "%s\n%s", id, ng.log())
		require.Equal(t, b, r.body, id)
	}
	for _, id := range missing {
		r := fetch(t, ng.base, "/"+id)
		require.Equal(t, http.StatusNotFound, r.code, "%s\n%s", id, ng.log())
	}
	b := files[ranged]
	r := fetch(t, ng.base, "/"+ranged, "Range", "bytes=10-19")
	require.Equal(t, http.StatusPartialContent, r.code, ng.log())
	require.Equal(t, b[10:20], r.body)
	require.Equal(t, "bytes 10-19/100", r.h.Get("Content-Range"))
	r = fetch(t, ng.base, "/"+ranged, "Range", "bytes=-7")
	require.Equal(t, http.StatusPartialContent, r.code, ng.log())
	require.Equal(t, b[93:], r.body, "the last bytes of the slot")
}
