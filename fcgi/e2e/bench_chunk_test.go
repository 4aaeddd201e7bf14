package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// benchChunkedSize is the file BenchmarkWebChunked sends per operation.
const benchChunkedSize = 1 << 30

// BenchmarkWebChunked uploads a 1 GiB file as the web client does it
// (docs/api.md §1.15): init, one put after the other with the server's
// chunk size (8 MiB) and each chunk's sha256 computed first, then finish,
// all through Nginx; like the page, it reads and hashes the next chunk
// while one is on its way. Next to it, "raw" uploads the same bytes with the
// client library in one UPLOAD_FILE straight to the same DFS. Each
// operation's content is new (no dedup shortcut); files are deleted after
// each operation, outside the timer. Reports MiB/s and, for the web run,
// its rate as a share of the raw one ("raw%"). `make bench` runs it with
// BenchmarkWeb.
func BenchmarkWebChunked(b *testing.B) {
	var raw float64
	b.Run("raw", func(b *testing.B) {
		cl := dfsClient(b, sharedInfra(b))
		base := chunkBase()
		b.SetBytes(benchChunkedSize)
		settleDisk()
		b.ResetTimer()
		for range b.N {
			seq := benchSeq.Add(1)
			id, err := cl.Upload(context.Background(), &patternReader{base: base, seq: seq, left: benchChunkedSize}, benchChunkedSize, "bin")
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := cl.Delete(context.Background(), id); err != nil {
				b.Fatal(err)
			}
			settleDisk()
			b.StartTimer()
		}
		b.StopTimer()
		raw = report(b, benchChunkedSize)
	})
	b.Run("web", func(b *testing.B) {
		s := StartStack(b, Options{UploadMode: "inprocess"})
		w := newWeb(b, s)
		a := w.login(w.register(fmt.Sprintf("bench_chunk_%d", benchSeq.Add(1)%1e9), "bench-password"))
		base := chunkBase()
		b.SetBytes(benchChunkedSize)
		settleDisk()
		b.ResetTimer()
		for range b.N {
			seq := benchSeq.Add(1)
			name := fmt.Sprintf("big%d.bin", seq)
			r := w.post("/chunk?cmd=init", a.body("filename", name, "size", benchChunkedSize))
			if r.code() != "080" {
				b.Fatalf("init: %s", r)
			}
			id, chunk := r.str("id"), int(num(r.obj["chunk_size"]))
			// As the web client does, the next chunk is read and hashed
			// while one is on its way.
			src := &patternReader{base: base, seq: seq, left: benchChunkedSize}
			pieces := make(chan chunkPiece, 1)
			go func() {
				defer close(pieces)
				for off := 0; off < benchChunkedSize; off += chunk {
					p := chunkPiece{off: off, data: make([]byte, min(chunk, benchChunkedSize-off))}
					if _, err := io.ReadFull(src, p.data); err != nil {
						panic(err)
					}
					sum := sha256.Sum256(p.data)
					p.sum = hex.EncodeToString(sum[:])
					pieces <- p
				}
			}()
			for p := range pieces {
				r = w.do(http.MethodPost, fmt.Sprintf("/chunk?cmd=put&id=%s&offset=%d", id, p.off), "application/octet-stream",
					bytes.NewReader(p.data), "Authorization", "Bearer "+a.token, "X-Chunk-SHA256", p.sum)
				if r.code() != "080" {
					for range pieces { // let the reader end
					}
					b.Fatalf("put at %d: %s", p.off, r)
				}
			}
			r = w.post("/chunk?cmd=finish", a.body("id", id))
			if r.code() != "008" {
				b.Fatalf("finish: %s", r)
			}
			b.StopTimer()
			w.expect("013", "/dealfile?cmd=del", a.body("md5", r.str("md5"), "filename", name))
			settleDisk()
			b.StartTimer()
		}
		b.StopTimer()
		web := report(b, benchChunkedSize)
		if raw > 0 {
			b.ReportMetric(100*web/raw, "raw%")
		}
	})
}

// chunkPiece is one chunk ready to send.
type chunkPiece struct {
	off  int
	data []byte
	sum  string
}

// chunkBase is the random block the benchmark's content repeats.
func chunkBase() []byte {
	base := make([]byte, 1<<20)
	rand.Read(base)
	return base
}

// patternReader yields left bytes: base over and over, each 1 MiB block
// stamped with seq and its number, so that every file and block differs.
type patternReader struct {
	base  []byte
	seq   uint64
	block uint64
	pos   int
	left  int64
	cur   []byte
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if p.cur == nil || p.pos == len(p.cur) {
		if p.cur == nil {
			p.cur = make([]byte, len(p.base))
		}
		copy(p.cur, p.base)
		binary.LittleEndian.PutUint64(p.cur, p.seq)
		binary.LittleEndian.PutUint64(p.cur[8:], p.block)
		p.block++
		p.pos = 0
	}
	n := copy(b, p.cur[p.pos:])
	n = int(min(int64(n), p.left))
	p.pos += n
	p.left -= int64(n)
	return n, nil
}
