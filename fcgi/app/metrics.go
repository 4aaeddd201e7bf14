package app

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"yunpan/internal/metrics"
)

// Metrics counts one program's requests for /metrics (the -metrics flag):
// requests by endpoint and HTTP code, a latency histogram, response bytes
// and requests in flight.
type Metrics struct {
	reg      *metrics.Registry
	requests *metrics.CounterVec
	latency  *metrics.HistogramVec
	bytes    *metrics.CounterVec
	inflight *metrics.Gauge
	paths    map[string]bool // endpoints counted by name; the rest are "other"
}

// NewMetrics builds the registry of program name ("" for a process that
// serves every endpoint).
func NewMetrics(name string) *Metrics {
	m := &Metrics{reg: metrics.NewRegistry(), paths: map[string]bool{"/logout": true, "/apppass": true}}
	for _, e := range Endpoints {
		m.paths["/"+e] = true
	}
	m.requests = m.reg.CounterVec("yunpan_fcgi_requests_total",
		"Requests answered, by endpoint path and HTTP status code.", "endpoint", "code")
	m.latency = m.reg.HistogramVec("yunpan_fcgi_request_duration_seconds",
		"Time to answer a request, by endpoint path.", metrics.LatencyBuckets, "endpoint")
	m.bytes = m.reg.CounterVec("yunpan_fcgi_response_bytes_total",
		"Response body bytes written, by endpoint path.", "endpoint")
	m.inflight = m.reg.Gauge("yunpan_fcgi_requests_in_flight", "Requests being answered now.")
	start := float64(time.Now().UnixNano()) / 1e9
	m.reg.Collect(func(s *metrics.Set) {
		s.Gauge("yunpan_fcgi_program_info", "Which FastCGI program this is (value 1).", 1, "program", name)
		s.Gauge("yunpan_fcgi_start_time_seconds", "When the program started (Unix time).", start)
	})
	return m
}

// Registry is the program's metric registry.
func (m *Metrics) Registry() *metrics.Registry { return m.reg }

// begin counts a request in flight.
func (m *Metrics) begin() { m.inflight.Inc() }

// done counts an answered request and returns its endpoint label: the
// known paths by name, the rest as "other" (so the series stay bounded).
func (m *Metrics) done(path string, status int, bytes int64, d time.Duration) string {
	m.inflight.Dec()
	ep := "other"
	switch {
	case m.paths[path]:
		ep = path
	case strings.HasPrefix(path, davPrefix+"/"):
		ep = davPrefix // the whole WebDAV tree is one series
	}
	m.requests.With(ep, strconv.Itoa(status)).Inc()
	m.latency.With(ep).Observe(d.Seconds())
	m.bytes.With(ep).Add(float64(bytes))
	return ep
}

// listenMetrics binds addr for /metrics; stop closes the listener and
// waits for it.
func (a *App) listenMetrics(addr string) (stop func(), err error) {
	srv, err := metrics.Listen(addr, a.mw.met.reg)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	a.log.Info().Str("metrics", srv.Addr().String()).Msg("metrics listening")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(); err != nil {
			a.log.Error().Err(err).Msg("metrics listener")
		}
	}()
	return func() { srv.Close(); <-done }, nil
}
