package metrics

import (
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func render(t *testing.T, r *Registry) string {
	t.Helper()
	var b strings.Builder
	_, err := r.WriteTo(&b)
	require.NoError(t, err)
	return b.String()
}

func TestExposition(t *testing.T) {
	r := NewRegistry()
	req := r.NewCounter("app_requests_total", "Requests by endpoint\nand code.", "endpoint", "code")
	req.With("/up", "200").Add(3)
	req.With("/down", "404").Inc()
	req.With("/up", "200").Add(-5) // ignored: counters never go down
	g := r.NewGauge("app_conns", `Open "conns" \ now.`)
	g.With().Set(2)
	g.With().Add(-0.5)
	r.NewCounter("app_unused_total", "no series yet") // left out
	r.Collect(func(s *Set) {
		s.Gauge("app_free_mb", "Free MB.", 10, "path", `a"b\c`+"\n")
		s.Gauge("app_free_mb", "Free MB.", 5, "path", "0")
	})
	want := `# HELP app_conns Open "conns" \\ now.
# TYPE app_conns gauge
app_conns 1.5
# HELP app_free_mb Free MB.
# TYPE app_free_mb gauge
app_free_mb{path="0"} 5
app_free_mb{path="a\"b\\c\n"} 10
# HELP app_requests_total Requests by endpoint\nand code.
# TYPE app_requests_total counter
app_requests_total{endpoint="/down",code="404"} 1
app_requests_total{endpoint="/up",code="200"} 3
`
	require.Equal(t, want, render(t, r))
}

func TestHistogram(t *testing.T) {
	r := NewRegistry()
	h := r.NewHistogram("lat_seconds", "Latency.", []float64{0.1, 1}, "ep")
	for _, v := range []float64{0.05, 0.1, 0.5, 3, math.NaN()} {
		h.With("x").Observe(v)
	}
	want := `# HELP lat_seconds Latency.
# TYPE lat_seconds histogram
lat_seconds_bucket{ep="x",le="0.1"} 2
lat_seconds_bucket{ep="x",le="1"} 3
lat_seconds_bucket{ep="x",le="+Inf"} 4
lat_seconds_sum{ep="x"} 3.65
lat_seconds_count{ep="x"} 4
`
	require.Equal(t, want, render(t, r))
	ss, err := Parse(strings.NewReader(want))
	require.NoError(t, err)
	require.Equal(t, "histogram", ss.Types["lat_seconds"])
	v, ok := ss.Sum("lat_seconds_bucket", "le", "+Inf")
	require.True(t, ok)
	require.Equal(t, 4.0, v)

	require.Panics(t, func() { r.NewHistogram("bad", "", []float64{2, 1}) })
	require.Panics(t, func() { r.NewHistogram("bad2", "", []float64{1}, "le") })
}

func TestRegistrationErrors(t *testing.T) {
	r := NewRegistry()
	r.NewCounter("a_total", "")
	require.Panics(t, func() { r.NewCounter("a_total", "") })
	require.Panics(t, func() { r.NewGauge("1bad", "") })
	require.Panics(t, func() { r.NewGauge("ok", "", "bad-label") })
	c := r.NewCounter("b_total", "", "x")
	require.Panics(t, func() { c.With() })
}

func TestSeriesBound(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("c_total", "", "k")
	for i := range maxSeries + 50 {
		c.With(strings.Repeat("x", i%7) + string(rune('a'+i%26)) + FormatValue(float64(i))).Inc()
	}
	ss, err := Parse(strings.NewReader(render(t, r)))
	require.NoError(t, err)
	require.LessOrEqual(t, len(ss.List), maxSeries+1)
	v, ok := ss.Sum("c_total")
	require.True(t, ok)
	require.Equal(t, float64(maxSeries+50), v)
	o, _ := ss.Sum("c_total", "k", "other")
	require.Equal(t, 50.0, o)
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 42: "42", -3: "-3", 0.25: "0.25", 1e20: "1e+20",
		math.Inf(1): "+Inf", math.Inf(-1): "-Inf",
	} {
		require.Equal(t, want, FormatValue(v))
	}
	require.Equal(t, "NaN", FormatValue(math.NaN()))
}

func TestParse(t *testing.T) {
	text := "# a comment\n# TYPE x counter\nx 1\nx{a=\"1\", b=\"q\\\"\\\\\\n\"} 2.5 1700000000000\ny_total{} +Inf\n"
	ss, err := Parse(strings.NewReader(text))
	require.NoError(t, err)
	require.Len(t, ss.List, 3)
	require.Equal(t, "q\"\\\n", ss.List[1].Labels["b"])
	require.Equal(t, 2.5, ss.List[1].Value)
	require.True(t, math.IsInf(ss.List[2].Value, 1))
	require.Len(t, ss.Find("x", "a", "1"), 1)
	_, ok := ss.Sum("missing")
	require.False(t, ok)

	for _, bad := range []string{
		"x", "x y", "1x 1", "x{a=1} 1", `x{a="1"`, `x{a="1",a="2"} 1`, `x{a="\q"} 1`,
		"x 1 2 3", "x 1 notatime", `x{-a="1"} 1`, "# TYPE 9x counter",
	} {
		_, err := Parse(strings.NewReader(bad + "\n"))
		require.Error(t, err, bad)
	}
}

func TestConcurrentUpdatesAndScrapes(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("n_total", "", "w")
	h := r.NewHistogram("h_seconds", "", nil)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				c.With(FormatValue(float64(w))).Inc()
				h.With().Observe(float64(i) / 1000)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			var b strings.Builder
			r.WriteTo(&b)
			ss, err := Parse(strings.NewReader(b.String()))
			if err != nil {
				t.Error(err)
				return
			}
			// Cumulative buckets never decrease within one scrape.
			last := -1.0
			for _, s := range ss.Find("h_seconds_bucket") {
				if s.Value < last {
					t.Errorf("bucket %s went down: %v < %v", s.Labels["le"], s.Value, last)
				}
				last = s.Value
			}
		}
	}()
	wg.Wait()
	ss, err := Parse(strings.NewReader(render(t, r)))
	require.NoError(t, err)
	v, _ := ss.Sum("n_total")
	require.Equal(t, 4000.0, v)
	n, _ := ss.Sum("h_seconds_count")
	require.Equal(t, 4000.0, n)
}

func TestServer(t *testing.T) {
	r := NewRegistry()
	r.NewCounter("up_total", "").With().Inc()
	s, err := Listen("127.0.0.1:0", r)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	base := "http://" + s.Addr().String()
	cl := &http.Client{Timeout: 5 * time.Second}

	resp, err := cl.Get(base + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, ContentType, resp.Header.Get("Content-Type"))
	require.Contains(t, string(body), "up_total 1\n")
	// The process families are served, not written by WriteTo.
	ss, err := Parse(strings.NewReader(string(body)))
	require.NoError(t, err)
	g, ok := ss.Sum("go_goroutines")
	require.True(t, ok)
	require.GreaterOrEqual(t, g, 2.0) // this test and Serve at least
	require.Equal(t, TypeGauge, ss.Types["go_goroutines"])
	fds, ok := ss.Sum("process_open_fds")
	require.True(t, ok)
	require.GreaterOrEqual(t, fds, 3.0) // the listener and the served connection at least
	require.NotContains(t, render(t, r), "go_goroutines")

	resp, err = cl.Get(base + "/other")
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

func FuzzParse(f *testing.F) {
	f.Add("# TYPE x counter\nx{a=\"b\"} 1\n")
	f.Add("x 1 2\ny{} NaN\n")
	f.Add(`z{a="\n\"\\"} -Inf`)
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 4096 {
			return // a scrape body of thousands of lines only slows the round trip below
		}
		ss, err := Parse(strings.NewReader(text))
		if err != nil {
			return
		}
		// What parses re-renders through a registry and parses the same.
		r := NewRegistry()
		r.Collect(func(s *Set) {
			for _, smp := range ss.List {
				var kv []string
				for k, v := range smp.Labels {
					kv = append(kv, k, v)
				}
				s.Gauge(smp.Name, "", smp.Value, kv...)
			}
		})
		var b strings.Builder
		r.WriteTo(&b)
		again, err := Parse(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-rendered text does not parse: %v\n%s", err, b.String())
		}
		if len(again.List) != len(ss.List) {
			t.Fatalf("%d samples became %d", len(ss.List), len(again.List))
		}
	})
}
