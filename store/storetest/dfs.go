package storetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"yunpan/conf"
	"yunpan/dfs/client"
)

// DFSTools are the binaries DFSBin provides.
var DFSTools = []string{"fdfs_trackerd", "fdfs_storaged", "fdfs_upload_file", "fdfs_delete_file", "fdfs_download_file", "fdfs_file_info"}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
	built   bool // binDir is ours to remove
)

// RemoveBuilt deletes the tools DFSBin built (not $YUNPAN_BIN). Call it at
// the end of TestMain, after the DFS processes have stopped.
func RemoveBuilt() {
	if built {
		os.RemoveAll(binDir)
	}
}

// DFSBin returns a folder holding the DFS tools: $YUNPAN_BIN when set (the
// Makefile builds once into ./bin), else one `go build` per test binary.
// (cluster.Bin in internal/cluster builds a superset; this one builds only
// what the web app needs and can remove it again.)
func DFSBin(tb TB) string {
	tb.Helper()
	binOnce.Do(func() {
		if d := os.Getenv("YUNPAN_BIN"); d != "" {
			binDir = d
			return
		}
		binDir, binErr = os.MkdirTemp("", "yunpan-storetest-bin-")
		built = binErr == nil
		if binErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		args := []string{"build", "-o", binDir + "/"}
		for _, t := range DFSTools {
			args = append(args, "./dfs/cmd/"+t)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build dfs tools: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binDir
}

// DFS is one tracker and one storage (group1) on 127.0.0.1.
type DFS struct {
	Bin        string // folder of the fdfs_* tools
	ClientConf string // client.conf path for the tools and conf.LoadClient
	Tracker    string // tracker "ip:port"
	Storage    string // storage "ip:port"
	StoreDir   string // store_path0 (files are under data/)
	procs      []*proc
}

func writeKV(path string, kv [][2]string) error {
	var b strings.Builder
	for _, e := range kv {
		fmt.Fprintf(&b, "%s = %s\n", e[0], e[1])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// StartDFS starts fdfs_trackerd and fdfs_storaged and waits until the
// tracker hands out the storage for uploads. Both stop at Cleanup.
func StartDFS(tb TB) *DFS {
	tb.Helper()
	d := &DFS{Bin: DFSBin(tb)}
	tbase, sbase, cbase := tb.TempDir(), tb.TempDir(), tb.TempDir()
	tport, sport := FreePort(tb), FreePort(tb)
	d.Tracker = "127.0.0.1:" + strconv.Itoa(tport)
	d.Storage = "127.0.0.1:" + strconv.Itoa(sport)
	d.StoreDir = sbase
	tconf, sconf := filepath.Join(tbase, "tracker.conf"), filepath.Join(sbase, "storage.conf")
	d.ClientConf = filepath.Join(cbase, "client.conf")
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(writeKV(tconf, [][2]string{{"bind_addr", "127.0.0.1"}, {"port", strconv.Itoa(tport)}, {"base_path", tbase},
		{"connect_timeout", "5"}, {"network_timeout", "30"}, {"store_lookup", "0"},
		{"reserved_storage_space", "1%"}, {"check_active_interval", "10"}, {"log_level", "info"}}))
	must(writeKV(sconf, [][2]string{{"group_name", "group1"}, {"bind_addr", "127.0.0.1"}, {"port", strconv.Itoa(sport)},
		{"base_path", sbase}, {"connect_timeout", "5"}, {"network_timeout", "30"},
		{"heart_beat_interval", "1"}, {"stat_report_interval", "1"}, {"store_path_count", "1"},
		{"store_path0", sbase}, {"subdir_count_per_path", "16"}, {"sync_binlog_buff_interval", "1"},
		{"log_level", "info"}, {"tracker_server", d.Tracker}}))
	must(writeKV(d.ClientConf, [][2]string{{"connect_timeout", "5"}, {"network_timeout", "30"},
		{"base_path", cbase}, {"log_level", "info"}, {"tracker_server", d.Tracker}}))

	tp, err := startProc("fdfs_trackerd", filepath.Join(d.Bin, "fdfs_trackerd"), tconf)
	must(err)
	d.procs = append(d.procs, tp)
	tb.Cleanup(func() { tp.stop(15 * time.Second) })
	sp, err := startProc("fdfs_storaged", filepath.Join(d.Bin, "fdfs_storaged"), sconf)
	must(err)
	d.procs = append(d.procs, sp)
	tb.Cleanup(func() { sp.stop(15 * time.Second) })

	cc, err := conf.LoadClient(d.ClientConf)
	must(err)
	cl, err := client.New(cc)
	must(err)
	defer cl.Close()
	err = poll(sp, 60*time.Second, func() error {
		if tp.exited() {
			return fmt.Errorf("tracker exited:\n%s", tp.output())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := cl.QueryStore(ctx, "")
		return err
	})
	if err != nil {
		tb.Fatalf("dfs: %v\ntracker log:\n%s\nstorage log:\n%s", err, readLog(tbase, "trackerd"), readLog(sbase, "storaged"))
	}
	return d
}

func readLog(base, name string) string {
	b, _ := os.ReadFile(filepath.Join(base, "logs", name+".log"))
	return string(b)
}

// Files lists the regular files stored under store_path0/data (the stored
// DFS files, without the storage's own bookkeeping files).
func (d *DFS) Files() ([]string, error) {
	var out []string
	root := filepath.Join(d.StoreDir, "data")
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		// Stored files live in data/HH/HH/; anything else is bookkeeping.
		if fi.Mode().IsRegular() && strings.Count(rel, string(filepath.Separator)) == 2 {
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}

// Stop stops the storage and the tracker.
func (d *DFS) Stop() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		d.procs[i].stop(15 * time.Second)
	}
}
