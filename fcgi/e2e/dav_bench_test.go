package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWebDAV copies a tree of 1,000 small files and one file of
// 1 GiB to the WebDAV tree with rclone (through Nginx and the dav
// program), and the big file back, next to the same work done with the
// DFS client library straight to the storage ("raw"). It runs once
// whatever -benchtime says and prints a table:
//
//	make bench   (or: go test -run '^$' -bench BenchmarkWebDAV ./fcgi/e2e)
func BenchmarkWebDAV(b *testing.B) {
	s := StartStack(b, Options{UploadMode: "inprocess", Cfg: map[string]any{"quota_bytes": 0}})
	w := newWeb(b, s)
	acct := w.login(w.register(fmt.Sprintf("davbench%d", time.Now().UnixNano()%1e6), "bench-password"))
	r := w.expect("100", "/apppass?cmd=create", map[string]any{"user": acct.name, "token": acct.token, "label": "bench"})
	c := newDavClient(b, s, acct.name, r.str("password"))

	dir := b.TempDir()
	tree := filepath.Join(dir, "tree")
	const n, small = 1000, 4 << 10
	for i := range n {
		p := filepath.Join(tree, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%04d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, small)
		rand.Read(buf)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	big := filepath.Join(dir, "big", "big.bin")
	const bigSize = 1 << 30
	writeRandomFile(b, big, bigSize)

	cl := dfsClient(b, s.Infra)
	ctx := context.Background()
	var err error

	timed := func(f func()) float64 {
		start := time.Now()
		f()
		return time.Since(start).Seconds()
	}
	b.ResetTimer()
	rawSmall := timed(func() {
		err := filepath.WalkDir(tree, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = cl.UploadFile(ctx, p, "bin")
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	})
	davSmall := timed(func() { c.run(b, "copy", "--transfers", "4", tree, "yp:tree") })
	// The same files PUT by a plain HTTP client, 4 at once: rclone 1.60
	// paces its WebDAV calls at least 10 ms apart, which is its limit
	// here, not the server's.
	pass := r.str("password")
	mk, _ := http.NewRequest("MKCOL", s.URL+"/dav/put/", nil)
	mk.SetBasicAuth(acct.name, pass)
	if res, err := httpClient.Do(mk); err != nil || res.StatusCode != http.StatusCreated {
		b.Fatalf("MKCOL: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	putSmall := timed(func() {
		var wg sync.WaitGroup
		var failed atomic.Value
		work := make(chan string)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range work {
					if err := davPut(s.URL+"/dav/put/"+filepath.Base(p), acct.name, pass, p); err != nil {
						failed.Store(err)
					}
				}
			}()
		}
		filepath.WalkDir(tree, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				work <- p
			}
			return err
		})
		close(work)
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
	})
	var rawID string
	rawBig := timed(func() {
		if rawID, err = cl.UploadFile(ctx, big, "bin"); err != nil {
			b.Fatal(err)
		}
	})
	davBig := timed(func() { c.run(b, "copy", filepath.Dir(big), "yp:big") })
	rawBigDown := timed(func() {
		if _, err := cl.DownloadFile(ctx, rawID, filepath.Join(dir, "raw-back.bin"), 0, 0); err != nil {
			b.Fatal(err)
		}
	})
	davBigDown := timed(func() { c.run(b, "copy", "yp:big", filepath.Join(dir, "dav-back")) })
	b.StopTimer()

	mib := float64(bigSize) / (1 << 20)
	fmt.Printf("\n%-28s %12s %12s %8s\n", "WebDAV (rclone) vs raw DFS", "raw", "webdav", "share")
	fmt.Printf("%-28s %10.0f/s %10.0f/s %7.0f%%\n", "1,000 files of 4 KiB (rclone)", n/rawSmall, n/davSmall, 100*rawSmall/davSmall)
	fmt.Printf("%-28s %10.0f/s %10.0f/s %7.0f%%\n", "1,000 files of 4 KiB (PUT x4)", n/rawSmall, n/putSmall, 100*rawSmall/putSmall)
	fmt.Printf("%-28s %8.1f MiB/s %6.1f MiB/s %7.0f%%\n", "1 GiB up", mib/rawBig, mib/davBig, 100*rawBig/davBig)
	fmt.Printf("%-28s %8.1f MiB/s %6.1f MiB/s %7.0f%%\n", "1 GiB down", mib/rawBigDown, mib/davBigDown, 100*rawBigDown/davBigDown)
	fmt.Println("raw: the DFS client library one file at a time; webdav: rclone copy (4 transfers; rclone 1.60 spaces its calls")
	fmt.Println("at least 10 ms apart), or plain PUTs 4 at once, through Nginx and the dav program")
	b.ReportMetric(n/davSmall, "dav-files/s")
	b.ReportMetric(n/putSmall, "put-files/s")
	b.ReportMetric(mib/davBig, "dav-up-MiB/s")
	b.ReportMetric(mib/davBigDown, "dav-down-MiB/s")
}

// writeRandomFile writes size random bytes to path.
func writeRandomFile(tb testing.TB, path string, size int64) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	for off := int64(0); off < size; off += int64(len(buf)) {
		buf[0]++ // every MiB differs
		if _, err := f.Write(buf[:min(int64(len(buf)), size-off)]); err != nil {
			tb.Fatal(err)
		}
	}
}

// davPut PUTs the file at path to url as user with an app password.
func davPut(url, user, pass, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPut, url, f)
	if err != nil {
		return err
	}
	req.ContentLength = fi.Size()
	req.SetBasicAuth(user, pass)
	res, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusNoContent {
		return fmt.Errorf("PUT %s: %s", url, res.Status)
	}
	return nil
}
