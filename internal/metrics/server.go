package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the go_ and process_ collectors (go_goroutines,
// go_memstats_*, process_open_fds, process_cpu_seconds_total, ...) and then
// reg, in the format the scraper asks for (the text format by default) on
// GET/HEAD; other methods get 405.
//
// The Go collector has a registry of its own, gathered first: a registry
// gathers on as many goroutines as it has collectors, started as needed, so
// go_goroutines read next to other collectors varied from scrape to scrape;
// alone it counts exactly one gathering goroutine, and tests can compare a
// process's goroutines with a baseline.
func Handler(reg prometheus.Gatherer) http.Handler {
	goReg, procReg := prometheus.NewRegistry(), prometheus.NewRegistry()
	goReg.MustRegister(collectors.NewGoCollector())
	procReg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := promhttp.HandlerFor(prometheus.Gatherers{goReg, procReg, reg}, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4})
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
