package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// Upload rate with a 2-storage group, asynchronous (FastDFS replication,
// sync_ack_replicas=1) and with sync_ack_replicas=2 (each upload is on both
// storages before it is acknowledged). Each mode gets a private tracker and
// group on loopback; the upload cases of `cases` run against it, to compare
// with the single storage above.
func groupBench(r *cluster.Runner, d time.Duration, only string) error {
	modes := []struct {
		name string
		ack  string
		ips  [3]string // tracker, storage, storage
	}{
		{"async", "1", [3]string{"127.0.0.12", "127.0.0.13", "127.0.0.14"}},
		{"N=2", "2", [3]string{"127.0.0.15", "127.0.0.16", "127.0.0.17"}},
	}
	fmt.Printf("%-26s %12s %12s\n", "case (2-storage group)", "ops/s", "MiB/s")
	for _, m := range modes {
		tr := cluster.StartTracker(r, m.ips[0], nil)
		port := cluster.SharedPort(r, m.ips[1], m.ips[2])
		over := map[string]string{
			"port": fmt.Sprint(port), "subdir_count_per_path": "256", "max_connections": "1024",
			"sync_ack_replicas": m.ack,
		}
		var sts []*cluster.Proc
		for _, ip := range m.ips[1:] {
			st := cluster.StartStorage(r, ip, "group1", []*cluster.Proc{tr}, over)
			sts = append(sts, st)
		}
		for _, st := range sts {
			cluster.WaitStatus(r, tr, "group1", st, proto.StatusActive, 60*time.Second)
		}
		cfg, err := conf.LoadClient(cluster.ClientConf(r, []*cluster.Proc{tr}, map[string]string{"use_connection_pool": "true"}))
		if err != nil {
			return err
		}
		c, err := client.New(cfg)
		if err != nil {
			return err
		}
		// With N=2 each storage must first see the other ACTIVE (a beat
		// after it became ACTIVE): wait until each accepts an upload.
		deadline := time.Now().Add(30 * time.Second)
		for _, st := range sts {
			for {
				id, err := c.UploadTo(context.Background(), st.Addr(), -1, bytes.NewReader([]byte("probe")), 5, "txt")
				if err == nil {
					c.Delete(context.Background(), id)
					break
				}
				if time.Now().After(deadline) {
					c.Close()
					return fmt.Errorf("%s: uploads to %s refused: %w", m.name, st.Addr(), err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		for _, bc := range cases {
			if !bc.upload || bc.size > 1<<20 || only != "" && !bytes.Contains([]byte(bc.name), []byte(only)) {
				continue
			}
			ops, done, elapsed, err := runCase(c, bc, d)
			name := bc.name + " " + m.name
			if err != nil {
				fmt.Printf("%-26s error: %v\n", name, err)
				continue
			}
			fmt.Printf("%-26s %12.0f %12.1f\n", name, float64(ops)/elapsed.Seconds(), float64(done)/elapsed.Seconds()/(1<<20))
		}
		c.Close()
		for _, st := range sts {
			st.Stop()
		}
		tr.Stop()
	}
	return nil
}
