package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Handler serves yunpan_goroutines, the go_ and process_ collectors
// (go_goroutines, go_memstats_*, process_open_fds,
// process_cpu_seconds_total, ...) and then reg, in the format the scraper
// asks for (the text format by default) on GET/HEAD; other methods get 405.
func Handler(reg prometheus.Gatherer) http.Handler {
	std := prometheus.NewRegistry()
	std.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := promhttp.HandlerFor(prometheus.Gatherers{prometheus.GathererFunc(goroutines), std, reg},
		promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, req)
	})
}

// Server is a small HTTP listener that answers /metrics only. Its timeouts
// are bounded so a slow or idle scraper cannot hold a goroutine for long.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	once sync.Once
}

// Listen binds addr ("host:port", port 0 for any) for reg. Serve must be
// called to answer.
func Listen(addr string, reg prometheus.Gatherer) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", Handler(reg))
	return &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       30 * time.Second,
			MaxHeaderBytes:    8 << 10,
		},
	}, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers until Close; it returns nil after Close.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the listener and every connection. It does not wait for
// Serve to return (the owner's WaitGroup does).
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		err = s.srv.Close()
		s.ln.Close() // Serve may never have run, and only Serve closes it
	})
	return err
}

// goroutines counts the process's goroutines before the scrape starts
// gathering: a registry gathers on goroutines it starts as the scheduler
// lets it, so go_goroutines, read amid them, differs from scrape to scrape
// by one or two. This one counts only the scrape's connection (and its
// background read): steady, so a leak check can compare it with a baseline.
func goroutines() ([]*dto.MetricFamily, error) {
	return []*dto.MetricFamily{{
		Name:   proto.String("yunpan_goroutines"),
		Help:   proto.String("Number of goroutines, counted before the scrape's own gathering ones start."),
		Type:   dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(float64(runtime.NumGoroutine()))}}},
	}}, nil
}
