// fdfs_bench is the project's load generator: it starts a private tracker and
// storage on loopback (or uses an existing cluster through -conf), runs
// upload and download loads with N concurrent connections through our client
// library, and prints ops/s and MiB/s. Ratios to C FastDFS come only from a
// reference run side by side in the same run (-vs-fastdfs, vs.go): figures
// from another machine or day say nothing about this one.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

type benchCase struct {
	name   string
	upload bool
	size   int
	conns  int
	target float64 // side by side (vs.go): the ratio ours/C aimed at
}

var cases = []benchCase{
	{name: "upload 4 KiB x8", upload: true, size: 4 << 10, conns: 8},
	{name: "download 4 KiB x8", size: 4 << 10, conns: 8},
	{name: "upload 64 KiB x8", upload: true, size: 64 << 10, conns: 8},
	{name: "download 64 KiB x8", size: 64 << 10, conns: 8},
	{name: "upload 64 MiB x1", upload: true, size: 64 << 20, conns: 1},
	{name: "download 64 MiB x1", size: 64 << 20, conns: 1},
	// The raw rate the web app's 1 MiB uploads compare with.
	{name: "upload 1 MiB x4", upload: true, size: 1 << 20, conns: 4},
}

func main() {
	bin := flag.String("bin", "bin", "folder with fdfs_trackerd and fdfs_storaged (used unless -conf is given)")
	confPath := flag.String("conf", "", "client.conf of an existing cluster to load instead of starting one")
	dur := flag.Duration("time", 5*time.Second, "duration of each case")
	only := flag.String("only", "", "run only cases whose name contains this")
	fsync := flag.String("fsync", "0", "fsync_after_written_bytes for the private storage")
	cpuprofile := flag.String("cpuprofile", "", "write the client's CPU profile here")
	nginxURL := flag.String("nginx-url", "", "base URL of an Nginx serving the cluster's files (with -conf); empty = start one")
	group := flag.Bool("group", true, "also measure uploads to a 2-storage group (async and sync_ack_replicas=2)")
	vsBin := flag.String("vs-fastdfs", "", "folder with a reference C FastDFS's fdfs_trackerd and fdfs_storaged: run the side-by-side comparison (vs.go) instead")
	vsTmpfs := flag.String("vs-tmpfs", "/dev/shm", "with -vs-fastdfs: a folder on a tmpfs for both stores (empty: skip)")
	vsDisk := flag.String("vs-disk", "/var/tmp", "with -vs-fastdfs: a folder on a disk for both stores (empty: skip)")
	vsTrunk := flag.Bool("vs-trunk", false, "with -vs-fastdfs: both clusters in trunk mode (use_trunk_file), small-file cases only")
	flag.Parse()

	r := &cluster.Runner{}
	defer r.Close()
	if *vsBin != "" {
		var media []vsMedium
		if *vsTmpfs != "" {
			media = append(media, vsMedium{"tmpfs", *vsTmpfs})
		}
		if *vsDisk != "" {
			media = append(media, vsMedium{"disk", *vsDisk})
		}
		ourBin, err := filepath.Abs(*bin)
		if err != nil {
			r.Fatal(err)
		}
		if err := vsMain(r, *vsBin, ourBin, media, *dur, *only, *vsTrunk); err != nil {
			r.Fatal(err)
		}
		return
	}
	path := *confPath
	stConf := ""
	if path == "" {
		os.Setenv("YUNPAN_BIN", *bin)
		tr := cluster.StartTracker(r, "127.0.0.2", nil)
		st := cluster.StartStorage(r, "127.0.0.3", "group1", []*cluster.Proc{tr}, map[string]string{
			"subdir_count_per_path": "256", "fsync_after_written_bytes": *fsync,
			"max_connections": "1024",
		})
		cluster.WaitStatus(r, tr, "group1", st, proto.StatusActive, 60*time.Second)
		stConf = st.Conf
		path = cluster.ClientConf(r, []*cluster.Proc{tr}, map[string]string{"use_connection_pool": "true"})
		fmt.Printf("private cluster: tracker %s, storage %s (fsync_after_written_bytes=%s)\n", tr.Addr(), st.Addr(), *fsync)
	}
	cfg, err := conf.LoadClient(path)
	if err != nil {
		r.Fatal(err)
	}
	cfg.UseConnectionPool = true
	c, err := client.New(cfg)
	if err != nil {
		r.Fatal(err)
	}
	defer c.Close()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			r.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	fmt.Printf("%-22s %12s %12s\n", "case", "ops/s", "MiB/s")
	for _, bc := range cases {
		if *only != "" && !bytes.Contains([]byte(bc.name), []byte(*only)) {
			continue
		}
		ops, bytesDone, elapsed, err := runCase(c, bc, *dur)
		if err != nil {
			fmt.Printf("%-22s error: %v\n", bc.name, err)
			continue
		}
		fmt.Printf("%-22s %12.0f %12.1f\n", bc.name, float64(ops)/elapsed.Seconds(), float64(bytesDone)/elapsed.Seconds()/(1<<20))
	}
	for _, ec := range extraCases {
		if *only != "" && !bytes.Contains([]byte(ec.name), []byte(*only)) {
			continue
		}
		ops, bytesDone, elapsed, err := ec.run(c, *dur)
		if err != nil {
			fmt.Printf("%-22s error: %v\n", ec.name, err)
			continue
		}
		fmt.Printf("%-22s %12.1f %12.1f\n", ec.name, float64(ops)/elapsed.Seconds(), float64(bytesDone)/elapsed.Seconds()/(1<<20))
	}
	fmt.Println("against C FastDFS side by side: make bench-vs-fastdfs FASTDFS_BIN=<its bin folder>")
	if stConf != "" || *nginxURL != "" {
		fmt.Println()
		if err := nginxBench(r, c, stConf, *nginxURL, *dur, *only); err != nil {
			fmt.Println("nginx:", err)
		}
	}
	if *group && *confPath == "" {
		fmt.Println()
		if err := groupBench(r, *dur, *only); err != nil {
			fmt.Println("group:", err)
		}
	}
}

// runCase runs one load for d (at least one operation per connection).
func runCase(c *client.Client, bc benchCase, d time.Duration) (int64, int64, time.Duration, error) {
	return runCaseTimed(c, bc, d, func() {}, func() {})
}

// runCaseTimed is runCase calling begin and end around the timed part only
// (not the preparing uploads or the clean-up deletes).
func runCaseTimed(c *client.Client, bc benchCase, d time.Duration, begin, end func()) (int64, int64, time.Duration, error) {
	payload := make([]byte, bc.size)
	rand.Read(payload)
	ctx := context.Background()
	var ids []string
	if !bc.upload {
		n := bc.conns * 4
		if bc.size >= 1<<20 {
			n = 1
		}
		for i := 0; i < n; i++ {
			id, err := c.UploadBuffer(ctx, payload, "bin")
			if err != nil {
				return 0, 0, 0, fmt.Errorf("prepare: %w", err)
			}
			ids = append(ids, id)
		}
	}
	var ops, bytesDone atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var uploaded sync.Map
	begin()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := 0; w < bc.conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				if i > 0 && time.Now().After(deadline) {
					return
				}
				opCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
				var err error
				if bc.upload {
					var id string
					id, err = c.UploadBuffer(opCtx, payload, "bin")
					if err == nil {
						uploaded.Store(id, true)
					}
				} else {
					_, err = c.Download(opCtx, ids[(w+i)%len(ids)], 0, 0, discard{})
				}
				cancel()
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				ops.Add(1)
				bytesDone.Add(int64(bc.size))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	end()
	// Leave the storage as we found it.
	cleanup := func(id string) { c.Delete(ctx, id) }
	uploaded.Range(func(k, _ any) bool { cleanup(k.(string)); return true })
	for _, id := range ids {
		cleanup(id)
	}
	return ops.Load(), bytesDone.Load(), elapsed, firstErr
}

// discard drops what is written to it. Unlike io.Discard it has no
// ReadFrom, so a download is read in the client's own 64 KiB buffer, not
// in io.Discard's 8 KiB one: eight reads a 64 KiB file cost the load
// generator CPU that both systems under test then lack.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
