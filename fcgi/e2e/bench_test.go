package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"yunpan/conf"
	"yunpan/dfs/client"
)

// BenchmarkWeb measures the web path through Nginx for 4 KiB and 1 MiB
// files, in both upload modes (exec: fork fdfs_upload_file as the course
// does; inprocess: our client library): uploads are POST /upload with
// distinct content each time (so no instant-upload shortcut), downloads are
// GETs of the storage URL that Nginx serves from disk. Next to them, "raw"
// uploads the same sizes with the client library straight to the same DFS,
// with as many in flight, which is what the web rates are compared with
// (the "raw%" metric). It reports ops/s and MiB/s, and for uploads the CPU
// milliseconds per upload of each role (client: this benchmark; app: the
// FastCGI programs; db, redis, nginx, dfs: the daemons; kernel: its
// threads), read from /proc, since on 2 saturated cores CPU per upload is
// what sets the rates (cpu_test.go). Every upload run starts with the page
// cache written back, so that none pays for the one before it.
// The rates move by a third from run to run on a shared 2-core machine
// (the page cache's cost above all), so the raw runs are repeated after the
// web ones, and the summary compares the web rate with the mean of both.
// Run: go test -run '^$' -bench BenchmarkWeb -benchtime 3s ./fcgi/e2e
func BenchmarkWeb(b *testing.B) {
	// Results by group ("raw", "raw-again", "exec", "inprocess") and size;
	// each sub-benchmark runs several times, the last run's result stays.
	res := map[string]map[int]benchResult{}
	keep := func(group string, size int, r benchResult) {
		if res[group] == nil {
			res[group] = map[int]benchResult{}
		}
		res[group][size] = r
	}
	rawRuns := func(group string) {
		b.Run(group, func(b *testing.B) {
			cl := dfsClient(b, sharedInfra(b))
			if group == "raw" {
				warmUp(b, cl)
			}
			for _, size := range benchSizes {
				b.Run("upload/"+sizeLabel(size), func(b *testing.B) { keep(group, size, benchRawUpload(b, cl, size)) })
			}
		})
	}
	rawRuns("raw")
	for _, mode := range []string{"exec", "inprocess"} {
		b.Run(mode, func(b *testing.B) {
			s := StartStack(b, Options{UploadMode: mode})
			w := newWeb(b, s)
			a := w.login(w.register(fmt.Sprintf("bench_%s_%d", mode, time.Now().UnixNano()%1e9), "bench-password"))
			for _, size := range benchSizes {
				b.Run("upload/"+sizeLabel(size), func(b *testing.B) {
					r := benchUpload(b, s, a, size)
					keep(mode, size, r)
					reportVersusRaw(b, r, res["raw"][size], size)
				})
				b.Run("download/"+sizeLabel(size), func(b *testing.B) { benchDownload(b, s, w, a, size) })
			}
		})
	}
	rawRuns("raw-again")
	printWebSummary(res)
}

// printWebSummary prints the upload rates next to each other, with the web
// rate as a share of the raw one (the mean of the runs before and after).
func printWebSummary(res map[string]map[int]benchResult) {
	fmt.Printf("\n%-8s %12s %12s %12s %12s %10s %10s\n", "upload", "raw before", "raw after", "web exec", "web inproc", "inproc/raw", "ceiling")
	for _, size := range benchSizes {
		r1, ok1 := res["raw"][size]
		r2, ok2 := res["raw-again"][size]
		web, ok := res["inprocess"][size]
		if !ok1 || !ok2 || !ok {
			continue
		}
		raw := benchResult{ops: (r1.ops + r2.ops) / 2, cpu: map[string]float64{"total": (r1.cpu["total"] + r2.cpu["total"]) / 2}}
		unit, scale := "op/s", 1.0
		if size >= 1<<20 {
			unit, scale = "MiB/s", float64(size)/(1<<20)
		}
		rate := func(ops float64) string { return fmt.Sprintf("%.0f %s", ops*scale, unit) }
		fmt.Printf("%-8s %12s %12s %12s %12s %9.0f%% %9.0f%%\n", sizeLabel(size), rate(r1.ops), rate(r2.ops),
			rate(res["exec"][size].ops), rate(web.ops), 100*web.ops/raw.ops, ceilingPercent(web, raw, size))
	}
	fmt.Println("ceiling: the best inproc/raw this machine allows (ceilingPercent in fcgi/e2e/bench_test.go)")
}

// warmUp uploads for a while before anything is measured: the first
// seconds after the daemons start were seen at a third of the later rate.
func warmUp(b *testing.B, cl *client.Client) {
	data := make([]byte, 64<<10)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		binary.LittleEndian.PutUint64(data, benchSeq.Add(1))
		if _, err := cl.UploadBuffer(context.Background(), data, "bin"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchResult is one upload run: its rate and its CPU per operation by role
// (cpu_test.go).
type benchResult struct {
	ops float64
	cpu map[string]float64
}

// dfsClient is a client library instance on in's DFS, closed at tb's end.
func dfsClient(tb testing.TB, in *shared) *client.Client {
	tb.Helper()
	cc, err := conf.LoadClient(in.dfs.ClientConf)
	if err != nil {
		tb.Fatal(err)
	}
	cl, err := client.New(cc)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// reportVersusRaw adds the web run's rate as a share of the raw client's
// ("raw%") and the ceiling of that share ("ceiling-raw%").
func reportVersusRaw(b *testing.B, web, raw benchResult, size int) {
	if raw.ops <= 0 {
		return
	}
	b.ReportMetric(100*web.ops/raw.ops, "raw%")
	if c := ceilingPercent(web, raw, size); c > 0 {
		b.ReportMetric(c, "ceiling-raw%")
	}
}

// ceilingPercent is the best share of the raw rate a web upload could
// reach on this machine. A web upload does all a raw one does (the FastCGI
// program is a DFS client of the same daemons), plus an HTTP exchange
// through Nginx and the content hash the server must compute, so at best
// it costs the raw run's CPU per upload plus the web run's HTTP client and
// Nginx CPU plus one md5 of the body, with everything else the program,
// MariaDB and Redis do free. With the cores saturated (8 in flight on 2
// cores) rates are inversely proportional to CPU per upload.
func ceilingPercent(web, raw benchResult, size int) float64 {
	r := raw.cpu["total"]
	if r <= 0 {
		return 0
	}
	return 100 * r / (r + web.cpu["client"] + web.cpu["nginx"] + md5CPU(size))
}

var benchSizes = []int{4 << 10, 1 << 20}

// benchParallelism sets how many requests each benchmark keeps in flight
// (a multiple of GOMAXPROCS, as RunParallel needs).
const benchParallelism = 4 // × GOMAXPROCS

func sizeLabel(size int) string {
	if size >= 1<<20 {
		return fmt.Sprintf("%dMiB", size>>20)
	}
	return fmt.Sprintf("%dKiB", size>>10)
}

// benchRawUpload uploads distinct content with the client library.
func benchRawUpload(b *testing.B, cl *client.Client, size int) benchResult {
	base := make([]byte, size)
	rand.Read(base)
	b.SetBytes(int64(size))
	b.SetParallelism(benchParallelism)
	settleDisk()
	cpu0 := sampleCPU()
	b.ResetTimer()
	var failed atomic.Value
	b.RunParallel(func(pb *testing.PB) {
		data := bytes.Clone(base)
		for pb.Next() {
			binary.LittleEndian.PutUint64(data, benchSeq.Add(1))
			if _, err := cl.UploadBuffer(context.Background(), data, "bin"); err != nil {
				failed.Store(err)
				return
			}
		}
	})
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return benchResult{report(b, size), reportCPU(b, cpu0)}
}

// report adds ops/s and MiB/s (SetBytes alone gives decimal MB/s) and
// returns the ops/s.
func report(b *testing.B, size int) float64 {
	sec := b.Elapsed().Seconds()
	if sec <= 0 {
		return 0
	}
	ops := float64(b.N) / sec
	b.ReportMetric(ops, "ops/s")
	b.ReportMetric(ops*float64(size)/(1<<20), "MiB/s")
	return ops
}

var benchSeq atomic.Uint64

// benchUpload posts distinct content through Nginx: the multipart body is
// built once per worker and only its stamp changes, so the client's cost is
// the HTTP exchange, as the raw client's is the DFS exchange.
func benchUpload(b *testing.B, s *Stack, a account, size int) benchResult {
	base := make([]byte, size)
	rand.Read(base)
	b.SetBytes(int64(size))
	b.SetParallelism(benchParallelism)
	settleDisk()
	cpu0 := sampleCPU()
	b.ResetTimer()
	var failed atomic.Value
	b.RunParallel(func(pb *testing.PB) {
		// A fixed-width name, rewritten in place for each upload: users
		// upload distinct names (each repeat of one name in a folder is
		// stored as the next free "name (n).ext").
		name := fmt.Sprintf("b%016x.bin", 0)
		body, ctype := uploadBody(a, name, base)
		req := append(fmt.Appendf(nil, "POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
			s.Addr, ctype, len(body)), body...)
		data := req[bytes.Index(req, base):][:size]
		nameAt := req[bytes.Index(req, []byte(name))+1:][:16]
		var lc leanClient
		defer lc.close()
		for pb.Next() {
			// Distinct content each time: the stamp makes a new md5.
			seq := benchSeq.Add(1)
			binary.LittleEndian.PutUint64(data, seq)
			binary.LittleEndian.PutUint64(data[8:], uint64(time.Now().UnixNano()))
			hex.Encode(nameAt, binary.BigEndian.AppendUint64(nil, seq))
			if err := lc.upload(s.Addr, req); err != nil {
				failed.Store(err)
				return
			}
		}
	})
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("%v\n%s", err, tail(s.Logs(), 4000))
	}
	return benchResult{report(b, size), reportCPU(b, cpu0)}
}

// leanClient posts prebuilt requests over one kept-alive connection, as a
// load generator such as wrk does: net/http's client costs about as much
// CPU per 4 KiB upload as a whole raw DFS upload, and that CPU is taken
// from the same 2 cores as the server's.
type leanClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func (c *leanClient) upload(addr string, req []byte) error {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	c.conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := c.conn.Write(req); err != nil {
		c.close()
		return fmt.Errorf("upload: %w", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return fmt.Errorf("upload: %w", err)
	}
	reply, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.close()
	}
	if resp.StatusCode != 200 || !bytes.Contains(reply, []byte(`"008"`)) {
		return fmt.Errorf("upload: HTTP %d %s", resp.StatusCode, tail(string(reply), 300))
	}
	return err
}

func (c *leanClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// uploadBody is the multipart body of POST /upload, as the web client
// sends it.
func uploadBody(a account, name string, data []byte) (body []byte, contentType string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("user", a.name)
	mw.WriteField("token", a.token)
	mw.WriteField("size", fmt.Sprint(len(data))) // as the web client does
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

func postUpload(base string, a account, name string, data []byte) error {
	body, ctype := uploadBody(a, name, data)
	return postBody(base, ctype, body)
}

func postBody(base, contentType string, body []byte) error {
	resp, err := httpClient.Post(base+"/upload", contentType, bytes.NewReader(body))
	if err != nil {
		return err
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(reply, []byte(`"008"`)) {
		return fmt.Errorf("upload: HTTP %d %s", resp.StatusCode, tail(string(reply), 300))
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
	b.SetParallelism(benchParallelism)
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
