package metrics

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"yunpan/internal/metrics/scrape"
)

func TestCollector(t *testing.T) {
	r := prometheus.NewRegistry()
	free := map[string]float64{"0": 5, `a"b\c` + "\n": 10}
	r.MustRegister(NewCollector(func(s *Set) {
		for p, v := range free {
			s.Gauge("app_free_mb", "Free MB.", v, "path", p)
		}
		s.Counter("app_done_total", "Done.", 3)
	}))
	want := `# HELP app_done_total Done.
# TYPE app_done_total counter
app_done_total 3
# HELP app_free_mb Free MB.
# TYPE app_free_mb gauge
app_free_mb{path="0"} 5
app_free_mb{path="a\"b\\c\n"} 10
`
	require.NoError(t, testutil.GatherAndCompare(r, strings.NewReader(want)))
	free["1"] = 7 // series come and go between scrapes
	ss, err := scrape.Gather(r)
	require.NoError(t, err)
	require.Len(t, ss.Find("app_free_mb"), 3)

	// The registry still checks what an unchecked collector adds.
	bad := prometheus.NewRegistry()
	bad.MustRegister(NewCollector(func(s *Set) {
		s.Gauge("x", "one help", 1, "k", "v")
		s.Gauge("x", "one help", 2, "k", "v")
	}))
	_, err = bad.Gather()
	require.ErrorContains(t, err, "collected before with the same name and label values")
}

func TestHistogramScrape(t *testing.T) {
	r := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lat_seconds", Help: "Latency.", Buckets: []float64{0.1, 1}}, []string{"ep"})
	r.MustRegister(h)
	for _, v := range []float64{0.05, 0.1, 0.5, 3} {
		h.WithLabelValues("x").Observe(v)
	}
	text := `# HELP lat_seconds Latency.
# TYPE lat_seconds histogram
lat_seconds_bucket{ep="x",le="0.1"} 2
lat_seconds_bucket{ep="x",le="1"} 3
lat_seconds_bucket{ep="x",le="+Inf"} 4
lat_seconds_sum{ep="x"} 3.65
lat_seconds_count{ep="x"} 4
`
	require.NoError(t, testutil.GatherAndCompare(r, strings.NewReader(text)))
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
	_, err = scrape.Parse(strings.NewReader("x{a=1} 1\n"))
	require.Error(t, err)
}

func TestServer(t *testing.T) {
	r := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "up_total", Help: "Up."})
	r.MustRegister(c)
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
	// The collectors every process has.
	g, ok := ss.Sum("go_goroutines")
	require.True(t, ok)
	require.GreaterOrEqual(t, g, 2.0) // this test and Serve at least
	require.Equal(t, "gauge", ss.Types["go_goroutines"])
	fds, ok := ss.Sum("process_open_fds")
	require.True(t, ok)
	require.GreaterOrEqual(t, fds, 3.0) // the listener and the served connection at least
	_, ok = ss.Sum("process_cpu_seconds_total")
	require.True(t, ok)

	resp, err := cl.Get(base + "/other")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode)

	resp, err = cl.Post(base+"/metrics", "text/plain", strings.NewReader("x"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 405, resp.StatusCode)

	require.NoError(t, s.Close())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	require.NoError(t, s.Close()) // twice is fine
}

// TestGoroutinesSteady: yunpan_goroutines does not depend on how many
// goroutines the gathering of the collectors happened to use, so a leak
// check can compare it with a baseline.
func TestGoroutinesSteady(t *testing.T) {
	r := NewRegistry()
	for i := range 16 {
		r.MustRegister(NewCollector(func(s *Set) { s.Gauge(fmt.Sprintf("c%d", i), "A value.", 1) }))
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
