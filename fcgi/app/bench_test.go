package app

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"testing"

	"yunpan/fcgi/config"
)

// BenchmarkWebUpload measures /upload through the real handlers (httptest
// server, MariaDB, Redis, DFS) in both upload modes and both body layouts,
// with new content each time (no dedup shortcut). MB/s is the file rate.
//
//	go test -run '^$' -bench WebUpload ./fcgi/app
func BenchmarkWebUpload(b *testing.B) {
	for _, mode := range []string{config.UploadExec, config.UploadInProcess} {
		for _, size := range []int{4 << 10, 1 << 20} {
			for _, layout := range []string{"multipart", "onepart"} {
				b.Run(fmt.Sprintf("%s/%s/%s", mode, sizeName(size), layout), func(b *testing.B) {
					e := newEnv(b, testConfig(b, mode))
					tok := e.user("bench")
					content := randBytes(size)
					b.SetBytes(int64(size))
					b.ResetTimer()
					for i := 0; b.Loop(); i++ {
						binary.LittleEndian.PutUint64(content, uint64(i)) // unique content
						name := fmt.Sprintf("f%d.bin", i)
						var r resp
						if layout == "multipart" {
							r = e.uploadMP("bench", tok, name, content)
						} else {
							r = e.do(http.MethodPost, "/upload", onePartBody("bench", tok, name, sum(content), size, content), nil)
						}
						if r.status != http.StatusOK {
							b.Fatalf("upload: %s", r)
						}
					}
				})
			}
		}
	}
}

// BenchmarkWebDownload measures GET /download (bytes streamed from the DFS
// through the handler).
func BenchmarkWebDownload(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			e := newEnv(b, testConfig(b, config.UploadInProcess))
			tok := e.user("bench")
			content := randBytes(size)
			if r := e.uploadMP("bench", tok, "d.bin", content); r.status != http.StatusOK {
				b.Fatalf("upload: %s", r)
			}
			b.SetBytes(int64(size))
			b.ResetTimer()
			for b.Loop() {
				r := e.download("bench", tok, sum(content), "d.bin")
				if r.status != http.StatusOK || !bytes.Equal(r.body, content) {
					b.Fatalf("download: %d", r.status)
				}
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
