package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/internal/cluster"
	"yunpan/nginx"
)

// nginxCases are the HTTP download loads: small files over 8 kept-alive
// connections, one big file over one connection.
var nginxCases = []struct {
	name  string
	size  int
	conns int
}{
	{"nginx GET 4 KiB x8", 4 << 10, 8},
	{"nginx GET 64 MiB x1", 64 << 20, 1},
}

// nginxBench measures downloads through Nginx. Files are uploaded with c,
// then fetched for d per case with Go's http.Client (keep-alive) from base,
// e.g. "http://127.0.0.3:8888". With base "" it renders the Nginx of the
// storage whose storage.conf is storageConf (as fdfs_nginxconf does), starts
// /usr/sbin/nginx on a free port of that storage's bind_addr and stops it at
// r.Close. Cases whose name does not contain only are skipped. It prints one
// line per case in main's table format and removes the uploaded files.
func nginxBench(r *cluster.Runner, c *client.Client, storageConf, base string, d time.Duration, only string) error {
	if base == "" {
		var err error
		if base, err = startBenchNginx(r, storageConf); err != nil {
			return err
		}
	}
	hc := &http.Client{
		Timeout: 5 * time.Minute,
		Transport: &http.Transport{
			MaxIdleConns:        16,
			MaxIdleConnsPerHost: 16,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		},
	}
	defer hc.CloseIdleConnections()
	ctx := context.Background()
	for _, nc := range nginxCases {
		if only != "" && !strings.Contains(nc.name, only) {
			continue
		}
		payload := make([]byte, nc.size)
		rand.Read(payload)
		n := nc.conns * 4
		if nc.size >= 1<<20 {
			n = 1
		}
		var urls []string
		var ids []string
		for range n {
			id, err := c.UploadBuffer(ctx, payload, "bin")
			if err != nil {
				return fmt.Errorf("%s: upload: %w", nc.name, err)
			}
			ids = append(ids, id)
			urls = append(urls, base+"/"+id)
		}
		// One check that Nginx serves the right bytes before timing.
		got, _, err := httpGet(hc, urls[0], nil)
		if err == nil && !bytes.Equal(got, payload) {
			err = fmt.Errorf("GET %s: %d bytes differ from the upload", urls[0], len(got))
		}
		var ops, done atomic.Int64
		var elapsed time.Duration
		if err == nil {
			var firstErr error
			var once sync.Once
			start := time.Now()
			deadline := start.Add(d)
			var wg sync.WaitGroup
			for w := range nc.conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i == 0 || time.Now().Before(deadline); i++ {
						_, n, err := httpGet(hc, urls[(w+i)%len(urls)], io.Discard)
						if err == nil && n != int64(nc.size) {
							err = fmt.Errorf("short body: %d of %d bytes", n, nc.size)
						}
						if err != nil {
							once.Do(func() { firstErr = err })
							return
						}
						ops.Add(1)
						done.Add(n)
					}
				}()
			}
			wg.Wait()
			elapsed, err = time.Since(start), firstErr
		}
		for _, id := range ids {
			c.Delete(ctx, id)
		}
		if err != nil {
			fmt.Printf("%-22s error: %v\n", nc.name, err)
			continue
		}
		fmt.Printf("%-22s %12.0f %12.1f\n", nc.name,
			float64(ops.Load())/elapsed.Seconds(), float64(done.Load())/elapsed.Seconds()/(1<<20))
	}
	return nil
}

// httpGet fetches url; with w == nil it returns the body, else copies it to
// w; n is the body's length.
func httpGet(hc *http.Client, url string, w io.Writer) (body []byte, n int64, err error) {
	resp, err := hc.Get(url)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if w == nil {
		body, err = io.ReadAll(resp.Body)
		return body, int64(len(body)), err
	}
	n, err = io.Copy(w, resp.Body)
	return nil, n, err
}

// startBenchNginx renders and starts the storage's Nginx; it returns its
// base URL.
func startBenchNginx(r *cluster.Runner, storageConf string) (string, error) {
	const bin = "/usr/sbin/nginx"
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("nginx bench needs %s: %w", bin, err)
	}
	st, err := conf.LoadStorage(storageConf)
	if err != nil {
		return "", err
	}
	p, err := nginx.DFSFromStorage(st)
	if err != nil {
		return "", err
	}
	ip := st.BindAddr
	if ip == "" {
		ip = "127.0.0.1"
	}
	p.Prefix = r.TempDir()
	p.Listen = net.JoinHostPort(ip, fmt.Sprint(cluster.FreePort(r, ip)))
	p.AccessLog = false // measure serving, not logging
	confPath := filepath.Join(p.Prefix, "nginx.conf")
	if err := nginx.WriteDFS(p, confPath); err != nil {
		return "", err
	}
	cmd := exec.Command(bin, nginx.DFSArgs(p.Prefix, confPath)...)
	cmd.Stderr = os.Stderr // startup errors, before error.log is open
	stderrPath := filepath.Join(p.Prefix, "logs", "error.log")
	if err := cmd.Start(); err != nil {
		return "", err
	}
	logText := func() string { b, _ := os.ReadFile(stderrPath); return string(b) }
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	r.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	base := "http://" + p.Listen
	for deadline := time.Now().Add(15 * time.Second); ; {
		select {
		case <-exited:
			return "", fmt.Errorf("nginx exited: %s", logText())
		default:
		}
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			fmt.Printf("nginx: %s serving %s\n", base, strings.Join(storePaths(p), ", "))
			return base, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("nginx on %s not ready: %s", base, logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func storePaths(p nginx.DFSParams) []string {
	var out []string
	for _, s := range p.Stores {
		out = append(out, s.Path)
	}
	return out
}
