package app

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"yunpan/internal/metrics"
)

// Metrics counts one program's requests for /metrics (the -metrics flag):
// requests by endpoint and HTTP code, a latency histogram, requests in
// flight. With -access-log every request also gets one event (level-less,
// so it is written whatever log_level says).
type Metrics struct {
	reg      *metrics.Registry
	requests *metrics.CounterVec
	latency  *metrics.HistogramVec
	bytes    *metrics.CounterVec
	inflight metrics.Gauge
	paths    map[string]bool // endpoints counted by name; the rest are "other"
}

// NewMetrics builds the registry of program name.
func NewMetrics(name string) *Metrics {
	m := &Metrics{reg: metrics.NewRegistry(), paths: map[string]bool{"/logout": true}}
	for _, e := range Endpoints {
		m.paths["/"+e] = true
	}
	m.requests = m.reg.NewCounter("yunpan_fcgi_requests_total", "Requests answered, by endpoint path and HTTP status code.", "endpoint", "code")
	m.latency = m.reg.NewHistogram("yunpan_fcgi_request_duration_seconds", "Time to answer a request, by endpoint path.", nil, "endpoint")
	m.bytes = m.reg.NewCounter("yunpan_fcgi_response_bytes_total", "Response body bytes written, by endpoint path.", "endpoint")
	m.inflight = m.reg.NewGauge("yunpan_fcgi_requests_in_flight", "Requests being answered now.").With()
	m.inflight.Set(0)
	m.reg.NewGauge("yunpan_fcgi_program_info", "Which FastCGI program this is (value 1).", "program").With(name).Set(1)
	m.reg.NewGauge("yunpan_fcgi_start_time_seconds", "When the program started (Unix time).").With().Set(float64(time.Now().Unix()))
	return m
}

// Registry is the program's metric registry.
func (m *Metrics) Registry() *metrics.Registry { return m.reg }

// endpoint bounds the endpoint label to the known paths.
func (m *Metrics) endpoint(path string) string {
	if m.paths[path] {
		return path
	}
	return "other"
}

// Wrap counts every request h answers; with access it also logs one
// event per request on log.
func (m *Metrics) Wrap(h http.Handler, log zerolog.Logger, access bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
		m.inflight.Add(1)
		defer func() {
			m.inflight.Add(-1)
			ep := m.endpoint(r.URL.Path)
			d := time.Since(start)
			m.requests.With(ep, strconv.Itoa(rw.code)).Inc()
			m.latency.With(ep).Observe(d.Seconds())
			m.bytes.With(ep).Add(float64(rw.n))
			if access {
				log.Log().Str("peer", r.RemoteAddr).Str("method", r.Method).Str("endpoint", ep).
					Str("uri", clip(r.URL.RequestURI(), 200)).Int("code", rw.code).Int64("bytes", rw.n).
					Float64("ms", float64(d.Microseconds())/1000).Msg("access")
			}
		}()
		h.ServeHTTP(rw, r)
	})
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// codeWriter remembers the status code and counts body bytes.
type codeWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
	n     int64
}

func (w *codeWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Write(b []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument wraps h with metrics (served on metricsAddr when not empty)
// and the access log. stop closes the metrics listener and waits for it.
func instrument(name string, h http.Handler, metricsAddr string, access bool, log zerolog.Logger) (http.Handler, func(), error) {
	m := NewMetrics(name)
	h = m.Wrap(h, log, access)
	if metricsAddr == "" {
		return h, func() {}, nil
	}
	srv, err := metrics.Listen(metricsAddr, m.reg)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	log.Info().Str("metrics", srv.Addr().String()).Msg("metrics listening")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(); err != nil {
			log.Error().Err(err).Msg("metrics listener")
		}
	}()
	return h, func() { srv.Close(); wg.Wait() }, nil
}
