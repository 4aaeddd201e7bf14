package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/internal/metrics/scrape"
)

func writeText(t *testing.T, r *Registry) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, r.WriteText(&b))
	return b.String()
}

func TestCollector(t *testing.T) {
	r := NewRegistry()
	free := map[string]float64{"0": 5, `a"b\c` + "\n": 10}
	r.Collect(func(s *Set) {
		for p, v := range free {
			s.Gauge("app_free_mb", "Free MB.", v, "path", p)
		}
		s.Counter("app_done_total", "Done.\nTwo \\ lines.", 3)
	})
	want := `# HELP app_done_total Done.\nTwo \\ lines.
# TYPE app_done_total counter
app_done_total 3
# HELP app_free_mb Free MB.
# TYPE app_free_mb gauge
app_free_mb{path="0"} 5
app_free_mb{path="a\"b\\c\n"} 10
`
	require.Equal(t, want, writeText(t, r))
	free["1"] = 7 // series come and go between scrapes
	ss, err := scrape.Gather(r)
	require.NoError(t, err)
	require.Len(t, ss.Find("app_free_mb"), 3)
	v, ok := ss.Sum("app_free_mb", "path", `a"b\c`+"\n")
	require.True(t, ok)
	require.Equal(t, 10.0, v)

	// The registry still checks what a collector adds, and writes the rest.
	bad := NewRegistry()
	bad.Collect(func(s *Set) {
		s.Gauge("x", "one help", 1, "k", "v")
		s.Gauge("x", "one help", 2, "k", "v")
		s.Gauge("x", "other help", 3, "k", "w")
		s.Counter("x", "one help", 4, "k", "u")
		s.Gauge("y", "odd labels", 1, "k")
		s.Gauge("z-z", "bad name", 1)
		s.Gauge("ok", "fine", 1, "k", "v")
	})
	var b strings.Builder
	err = bad.WriteText(&b)
	require.ErrorContains(t, err, `x{k="v"} added before with the same name and label values`)
	require.ErrorContains(t, err, `x added as gauge "other help", before as gauge "one help"`)
	require.ErrorContains(t, err, `x added as counter`)
	require.ErrorContains(t, err, "odd label list for y")
	require.ErrorContains(t, err, `invalid metric name "z-z"`)
	require.Equal(t, "# HELP ok fine\n# TYPE ok gauge\nok{k=\"v\"} 1\n# HELP x one help\n# TYPE x gauge\nx{k=\"v\"} 1\n", b.String())
}

func TestCountersAndGauges(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("c_total", "C.")
	c.Inc()
	c.Add(2.5)
	v := r.CounterVec("req_total", "Requests.", "status", "cmd")
	v.With("0", "101").Inc()
	v.With("0", "101").Add(2)
	v.With("2", "11").Inc()
	v.With("0", "11").Inc()
	g := r.Gauge("g", "G.")
	g.Set(3)
	g.Inc()
	g.Dec()
	g.Add(-0.5)
	require.Panics(t, func() { r.Counter("c_total", "again") })
	require.Panics(t, func() { c.Add(-1) })
	require.Panics(t, func() { v.With("0") })
	// Labels are written sorted by name, series sorted by their values.
	require.Equal(t, `# HELP c_total C.
# TYPE c_total counter
c_total 3.5
# HELP g G.
# TYPE g gauge
g 2.5
# HELP req_total Requests.
# TYPE req_total counter
req_total{cmd="101",status="0"} 3
req_total{cmd="11",status="0"} 1
req_total{cmd="11",status="2"} 1
`, writeText(t, r))
}

// TestHotPathNoAlloc: counting a request allocates nothing once its series
// exists, so a busy daemon's heap does not grow from its metrics.
func TestHotPathNoAlloc(t *testing.T) {
	r := NewRegistry()
	v := r.CounterVec("req_total", "Requests.", "cmd", "status")
	h := r.HistogramVec("lat_seconds", "Latency.", LatencyBuckets, "cmd")
	c := r.Counter("bytes_total", "Bytes.")
	cmd := byte(102)
	v.With(Byte(cmd), Byte(0)).Inc()
	h.With(Byte(cmd)).Observe(0.01)
	n := testing.AllocsPerRun(1000, func() {
		v.With(Byte(cmd), Byte(0)).Inc()
		h.With(Byte(cmd)).Observe(0.003)
		c.Add(4096)
	})
	require.Zero(t, n)
	require.Equal(t, "102", Byte(102))
	require.Equal(t, "7", Byte(7))
}

func TestHistogramScrape(t *testing.T) {
	r := NewRegistry()
	h := r.HistogramVec("lat_seconds", "Latency.", []float64{0.1, 1}, "ep")
	for _, v := range []float64{0.05, 0.1, 0.5, 3} {
		h.With("x").Observe(v)
	}
	text := `# HELP lat_seconds Latency.
# TYPE lat_seconds histogram
lat_seconds_bucket{ep="x",le="0.1"} 2
lat_seconds_bucket{ep="x",le="1"} 3
lat_seconds_bucket{ep="x",le="+Inf"} 4
lat_seconds_sum{ep="x"} 3.65
lat_seconds_count{ep="x"} 4
`
	require.Equal(t, text, writeText(t, r))
	require.Panics(t, func() { r.HistogramVec("h2", "H.", []float64{1, 0.5}) })
	gathered, err := scrape.Gather(r)
	require.NoError(t, err)
	parsed, err := scrape.Parse(strings.NewReader(text))
	require.NoError(t, err)
	for _, ss := range []*scrape.Samples{gathered, parsed} {
		require.Equal(t, "histogram", ss.Types["lat_seconds"])
		for le, want := range map[string]float64{"0.1": 2, "1": 3, "+Inf": 4} {
			v, ok := ss.Sum("lat_seconds_bucket", "ep", "x", "le", le)
			require.True(t, ok, le)
			require.Equal(t, want, v, le)
		}
		require.Len(t, ss.Find("lat_seconds_bucket"), 3)
		n, _ := ss.Sum("lat_seconds_count")
		require.Equal(t, 4.0, n)
		sum, _ := ss.Sum("lat_seconds_sum", "ep", "x")
		require.InDelta(t, 3.65, sum, 1e-9)
	}
	for _, bad := range []string{"x{a=1} 1\n", "x{a=\"1} 1\n", "x 1 2 3\n", "x{a=\"1\" 1\n", "x one\n", "{a=\"1\"} 1\n", "x{a=\"\\q\"} 1\n"} {
		_, err = scrape.Parse(strings.NewReader(bad))
		require.Error(t, err, bad)
	}
	ss, err := scrape.Parse(strings.NewReader("# a comment\nx{a=\"1\",} +Inf 1700000000000\ny NaN\n"))
	require.NoError(t, err)
	require.Len(t, ss.List, 2)
}

func TestServer(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("up_total", "Up.")
	c.Inc()
	s, err := Listen("127.0.0.1:0", r)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	base := "http://" + s.Addr().String()
	cl := &http.Client{Timeout: 5 * time.Second}

	ss, err := scrape.Get(context.Background(), cl, base+"/metrics")
	require.NoError(t, err)
	v, ok := ss.Sum("up_total")
	require.True(t, ok)
	require.Equal(t, 1.0, v)
	// The go_ and process_ metrics of Prometheus' collectors, by name and type.
	for name, typ := range map[string]string{
		"go_gc_duration_seconds": "summary", "go_gc_gogc_percent": "gauge", "go_gc_gomemlimit_bytes": "gauge", "go_goroutines": "gauge",
		"go_info": "gauge", "go_memstats_alloc_bytes": "gauge", "go_memstats_alloc_bytes_total": "counter",
		"go_memstats_buck_hash_sys_bytes": "gauge", "go_memstats_frees_total": "counter", "go_memstats_gc_sys_bytes": "gauge",
		"go_memstats_heap_alloc_bytes": "gauge", "go_memstats_heap_idle_bytes": "gauge", "go_memstats_heap_inuse_bytes": "gauge",
		"go_memstats_heap_objects": "gauge", "go_memstats_heap_released_bytes": "gauge", "go_memstats_heap_sys_bytes": "gauge",
		"go_memstats_last_gc_time_seconds": "gauge", "go_memstats_mallocs_total": "counter", "go_memstats_mcache_inuse_bytes": "gauge",
		"go_memstats_mcache_sys_bytes": "gauge", "go_memstats_mspan_inuse_bytes": "gauge", "go_memstats_mspan_sys_bytes": "gauge",
		"go_memstats_next_gc_bytes": "gauge", "go_memstats_other_sys_bytes": "gauge", "go_memstats_stack_inuse_bytes": "gauge",
		"go_memstats_stack_sys_bytes": "gauge", "go_memstats_sys_bytes": "gauge", "go_sched_gomaxprocs_threads": "gauge",
		"go_threads": "gauge", "process_cpu_seconds_total": "counter", "process_max_fds": "gauge",
		"process_network_receive_bytes_total": "counter", "process_network_transmit_bytes_total": "counter",
		"process_open_fds": "gauge", "process_resident_memory_bytes": "gauge", "process_start_time_seconds": "gauge",
		"process_virtual_memory_bytes": "gauge", "process_virtual_memory_max_bytes": "gauge", "yunpan_goroutines": "gauge",
	} {
		require.Equal(t, typ, ss.Types[name], name)
	}
	g, ok := ss.Sum("go_goroutines")
	require.True(t, ok)
	require.GreaterOrEqual(t, g, 2.0) // this test and Serve at least
	fds, ok := ss.Sum("process_open_fds")
	require.True(t, ok)
	require.GreaterOrEqual(t, fds, 3.0) // the listener and the served connection at least
	rss, _ := ss.Sum("process_resident_memory_bytes")
	require.Greater(t, rss, 1e6)
	start, _ := ss.Sum("process_start_time_seconds")
	now := float64(time.Now().Unix())
	require.True(t, start <= now+1 && start > now-3600, "start %v, now %v", start, now)
	n, ok := ss.Sum("go_gc_duration_seconds_count")
	require.True(t, ok)
	require.GreaterOrEqual(t, n, 0.0)
	require.Len(t, ss.Find("go_gc_duration_seconds"), 5, "quantiles 0, 0.25, 0.5, 0.75, 1")
	ver, _ := ss.Sum("go_info")
	require.Equal(t, 1.0, ver)

	resp, err := cl.Head(base + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, ContentType, resp.Header.Get("Content-Type"))

	resp, err = cl.Get(base + "/other")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode)

	resp, err = cl.Post(base+"/metrics", "text/plain", strings.NewReader("x"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 405, resp.StatusCode)
	require.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))

	// Malformed and oversized requests get an answer, not a hang.
	raw := func(req string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
		require.NoError(t, err)
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write([]byte(req))
		require.NoError(t, err)
		b, _ := io.ReadAll(c)
		return string(b)
	}
	require.True(t, strings.HasPrefix(raw("nonsense\r\n\r\n"), "HTTP/1.1 400 "))
	require.True(t, strings.HasPrefix(raw("GET /metrics HTTP/1.1\r\nX: "+strings.Repeat("a", 9000)+"\r\n\r\n"), "HTTP/1.1 431 "))
	require.True(t, strings.HasPrefix(raw("GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), "HTTP/1.1 400 "))
	got := raw("GET /metrics?x=1 HTTP/1.0\r\n\r\n")
	require.True(t, strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n"), got)
	require.Contains(t, got, "\r\n\r\n# HELP ")
	// Requests on a kept connection, the last one asking to close it.
	got = raw("HEAD /metrics HTTP/1.1\r\n\r\nPOST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /x HTTP/1.1\r\nConnection: close\r\n\r\n")
	require.Equal(t, 3, strings.Count(got, "HTTP/1.1 "), got)
	require.Regexp(t, `(?s)^HTTP/1.1 200 OK\r\n.*\r\n\r\nHTTP/1.1 405 .*HTTP/1.1 404 .*Connection: close\r\n`, got)

	// Close ends connections that are still being read.
	idle, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	defer idle.Close()
	idle.Write([]byte("GET /metrics HTTP/1.1\r\n"))
	require.Eventually(t, func() bool { return len(s.sem) == 1 }, 5*time.Second, time.Millisecond)

	require.NoError(t, s.Close())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	require.NoError(t, s.Close()) // twice is fine
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = idle.Read(make([]byte, 1))
	// A reset when the server closed before reading what was sent.
	require.True(t, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET),
		"the server closed the connection it was reading: %v", err)
}

// TestServerBounded: connections over the bound are closed unanswered and
// the served ones still get their answer.
func TestServerBounded(t *testing.T) {
	s, err := Listen("127.0.0.1:0", NewRegistry())
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	defer func() {
		require.NoError(t, s.Close())
		require.NoError(t, <-done)
	}()
	var held []net.Conn
	for range maxConns {
		c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
		require.NoError(t, err)
		defer c.Close()
		held = append(held, c)
	}
	require.Eventually(t, func() bool { return len(s.sem) == maxConns }, 5*time.Second, time.Millisecond)
	extra, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = extra.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	for _, c := range held {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Write([]byte("GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n"))
		require.NoError(t, err)
		b, err := io.ReadAll(c)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(b), "HTTP/1.1 200 OK"), "%q", b)
	}
}

// TestGoroutinesSteady: yunpan_goroutines does not depend on how the
// scrape gathers the metrics, so a leak check can compare it with a
// baseline.
func TestGoroutinesSteady(t *testing.T) {
	r := NewRegistry()
	for i := range 16 {
		r.Collect(func(s *Set) { s.Gauge(fmt.Sprintf("c%d", i), "A value.", 1) })
	}
	s, err := Listen("127.0.0.1:0", r)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	cl := &http.Client{Timeout: 5 * time.Second}
	seen := map[float64]int{}
	for range 200 {
		ss, err := scrape.Get(context.Background(), cl, "http://"+s.Addr().String()+"/metrics")
		require.NoError(t, err)
		g, ok := ss.Sum("yunpan_goroutines")
		require.True(t, ok)
		seen[g]++
	}
	lo, hi := 1e9, 0.0
	for g := range seen {
		lo, hi = min(lo, g), max(hi, g)
	}
	// One more at times in this test: its own client's goroutines live in
	// the same process.
	require.LessOrEqual(t, hi-lo, 1.0, "yunpan_goroutines by value over 200 scrapes: %v", seen)
	cl.CloseIdleConnections()
	require.NoError(t, s.Close())
	require.NoError(t, <-done)
}
