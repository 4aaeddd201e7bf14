package app

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"yunpan/internal/metrics"
)

// Metrics counts one program's requests for /metrics (the -metrics flag):
// requests by endpoint and HTTP code, a latency histogram, response bytes
// and requests in flight.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	inflight prometheus.Gauge
	paths    map[string]bool // endpoints counted by name; the rest are "other"
}

// NewMetrics builds the registry of program name ("" for a process that
// serves every endpoint).
func NewMetrics(name string) *Metrics {
	m := &Metrics{reg: metrics.NewRegistry(), paths: map[string]bool{"/logout": true}}
	for _, e := range Endpoints {
		m.paths["/"+e] = true
	}
	f := promauto.With(m.reg)
	m.requests = f.NewCounterVec(prometheus.CounterOpts{Name: "yunpan_fcgi_requests_total",
		Help: "Requests answered, by endpoint path and HTTP status code."}, []string{"endpoint", "code"})
	m.latency = f.NewHistogramVec(prometheus.HistogramOpts{Name: "yunpan_fcgi_request_duration_seconds",
		Help: "Time to answer a request, by endpoint path.", Buckets: metrics.LatencyBuckets}, []string{"endpoint"})
	m.bytes = f.NewCounterVec(prometheus.CounterOpts{Name: "yunpan_fcgi_response_bytes_total",
		Help: "Response body bytes written, by endpoint path."}, []string{"endpoint"})
	m.inflight = f.NewGauge(prometheus.GaugeOpts{Name: "yunpan_fcgi_requests_in_flight", Help: "Requests being answered now."})
	f.NewGaugeVec(prometheus.GaugeOpts{Name: "yunpan_fcgi_program_info",
		Help: "Which FastCGI program this is (value 1)."}, []string{"program"}).WithLabelValues(name).Set(1)
	f.NewGauge(prometheus.GaugeOpts{Name: "yunpan_fcgi_start_time_seconds",
		Help: "When the program started (Unix time)."}).SetToCurrentTime()
	return m
}

// Registry is the program's metric registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// begin counts a request in flight.
func (m *Metrics) begin() { m.inflight.Inc() }

// done counts an answered request and returns its endpoint label: the
// known paths by name, the rest as "other" (so the series stay bounded).
func (m *Metrics) done(path string, status int, bytes int64, d time.Duration) string {
	m.inflight.Dec()
	ep := "other"
	if m.paths[path] {
		ep = path
	}
	m.requests.WithLabelValues(ep, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(ep).Observe(d.Seconds())
	m.bytes.WithLabelValues(ep).Add(float64(bytes))
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
