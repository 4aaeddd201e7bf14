package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"yunpan/conf"
	"yunpan/dfs/client"
)

// DFS is one tracker and one storage (group1) on 127.0.0.1, for the cloud
// disk's tests.
type DFS struct {
	Bin        string // folder of the fdfs_* tools
	ClientConf string // client.conf path for the tools and conf.LoadClient
	Tracker    string // tracker "ip:port"
	Storage    string // storage "ip:port"
	StoreDir   string // store_path0 (files are under data/)
	procs      []*Proc
}

// StartDFS starts fdfs_trackerd and fdfs_storaged and waits until the
// tracker hands out the storage for uploads. Both stop at Cleanup.
func StartDFS(tb TB) *DFS {
	tb.Helper()
	tr := StartTracker(tb, "127.0.0.1", nil)
	st := StartStorage(tb, "127.0.0.1", "group1", []*Proc{tr}, nil)
	d := &DFS{
		Bin:        Bin(tb),
		ClientConf: ClientConf(tb, []*Proc{tr}, nil),
		Tracker:    tr.Addr(),
		Storage:    st.Addr(),
		StoreDir:   st.Base,
		procs:      []*Proc{tr, st},
	}
	cc, err := conf.LoadClient(d.ClientConf)
	if err != nil {
		tb.Fatal(err)
	}
	cl, err := client.New(cc)
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	err = poll(st.c, 60*time.Second, func() error {
		if tr.Exited() {
			return fmt.Errorf("tracker exited:\n%s", tr.c.output())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := cl.QueryStore(ctx, "")
		return err
	})
	if err != nil {
		tb.Fatalf("dfs: %v\ntracker log:\n%s\nstorage log:\n%s", err, tr.Log(), st.Log())
	}
	return d
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
		d.procs[i].Stop()
	}
}
