package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWeb measures the web path through Nginx for 4 KiB and 1 MiB
// files, in both upload modes (exec: fork fdfs_upload_file as the course
// does; inprocess: our client library): uploads are POST /upload with
// distinct content each time (so no instant-upload shortcut), downloads are
// GETs of the storage URL that Nginx serves from disk. It reports ops/s and
// MiB/s. Run: go test -run '^$' -bench BenchmarkWeb -benchtime 3s ./fcgi/e2e
func BenchmarkWeb(b *testing.B) {
	for _, mode := range []string{"exec", "inprocess"} {
		b.Run(mode, func(b *testing.B) {
			s := StartStack(b, Options{UploadMode: mode})
			w := newWeb(b, s)
			a := w.login(w.register(fmt.Sprintf("bench_%s_%d", mode, time.Now().UnixNano()%1e9), "bench-password"))
			for _, size := range []int{4 << 10, 1 << 20} {
				label := fmt.Sprintf("%dKiB", size>>10)
				if size >= 1<<20 {
					label = fmt.Sprintf("%dMiB", size>>20)
				}
				b.Run("upload/"+label, func(b *testing.B) { benchUpload(b, s, a, size) })
				b.Run("download/"+label, func(b *testing.B) { benchDownload(b, s, w, a, size) })
			}
		})
	}
}

// report adds ops/s and MiB/s (SetBytes alone gives decimal MB/s).
func report(b *testing.B, size int) {
	sec := b.Elapsed().Seconds()
	if sec <= 0 {
		return
	}
	b.ReportMetric(float64(b.N)/sec, "ops/s")
	b.ReportMetric(float64(b.N)*float64(size)/sec/(1<<20), "MiB/s")
}

var benchSeq atomic.Uint64

func benchUpload(b *testing.B, s *Stack, a account, size int) {
	base := make([]byte, size)
	rand.Read(base)
	b.SetBytes(int64(size))
	b.SetParallelism(2) // 2 × GOMAXPROCS uploads in flight
	b.ResetTimer()
	var failed atomic.Value
	b.RunParallel(func(pb *testing.PB) {
		data := bytes.Clone(base)
		for pb.Next() {
			// Distinct content each time: the stamp makes a new md5.
			binary.LittleEndian.PutUint64(data, benchSeq.Add(1))
			binary.LittleEndian.PutUint64(data[8:], uint64(time.Now().UnixNano()))
			if err := postUpload(s.URL, a, fmt.Sprintf("b%d.bin", benchSeq.Load()), data); err != nil {
				failed.Store(err)
				return
			}
		}
	})
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("%v\n%s", err, tail(s.Logs(), 4000))
	}
	report(b, size)
}

func postUpload(base string, a account, name string, data []byte) error {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("user", a.name)
	mw.WriteField("token", a.token)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	resp, err := httpClient.Post(base+"/upload", mw.FormDataContentType(), &buf)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"008"`)) {
		return fmt.Errorf("upload %s: HTTP %d %s", name, resp.StatusCode, tail(string(body), 300))
	}
	return nil
}

func benchDownload(b *testing.B, s *Stack, w *web, a account, size int) {
	data := make([]byte, size)
	rand.Read(data)
	name := fmt.Sprintf("dl%d.bin", benchSeq.Add(1))
	if err := postUpload(s.URL, a, name, data); err != nil {
		b.Fatal(err)
	}
	r := w.with(b).expect("025", "/download", a.body("md5", md5hex(data), "filename", name))
	url := r.str("url")
	b.SetBytes(int64(size))
	b.SetParallelism(2)
	b.ResetTimer()
	var failed atomic.Value
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := httpClient.Get(url)
			if err != nil {
				failed.Store(err)
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || n != int64(size) {
				failed.Store(fmt.Errorf("GET %s: HTTP %d, %d bytes", url, resp.StatusCode, n))
				return
			}
		}
	})
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	report(b, size)
}
