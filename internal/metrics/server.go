package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// ContentType is the Prometheus text format's.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// maxScrapes bounds the scrapes answered at once; more get 503.
const maxScrapes = 4

// Handler serves, in the text format on GET/HEAD (other methods get 405),
// yunpan_goroutines, the go_ and process_ metrics (go_goroutines,
// go_memstats_*, process_open_fds, process_cpu_seconds_total, ...) and
// then reg.
func Handler(reg *Registry) http.Handler {
	sem := make(chan struct{}, maxScrapes)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		default:
			http.Error(w, "too many scrapes at once", http.StatusServiceUnavailable)
			return
		}
		s := newSet()
		s.Gauge("yunpan_goroutines", "Number of goroutines, counted before the scrape's own gathering ones start.",
			float64(runtime.NumGoroutine()))
		collectRuntime(s)
		reg.gather(s)
		var body bytes.Buffer
		s.write(&body) // what was left out is a programming error the tests see through WriteText
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(body.Len()))
		w.Write(body.Bytes())
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
func Listen(addr string, reg *Registry) (*Server, error) {
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
