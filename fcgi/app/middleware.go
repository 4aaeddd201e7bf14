package app

import (
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// middleware is the one layer between the server and a handler: it counts
// the request in flight, turns a handler panic into a 500, and reports
// the response to the metrics and in one log line.
type middleware struct {
	log      zerolog.Logger
	access   bool // -access-log: every request's line whatever the level, else at debug level
	met      *Metrics
	inflight sync.WaitGroup // requests running, for the drain at exit (the FastCGI server has no Shutdown)
}

func (m *middleware) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.inflight.Add(1)
		defer m.inflight.Done()
		m.met.begin()
		start := time.Now()
		rw := &respWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			p := recover()
			crashed := p != nil && p != http.ErrAbortHandler
			if crashed && !rw.wrote {
				rw.internalError()
			}
			m.finish(rw, r, time.Since(start), crashed, p)
			if p == http.ErrAbortHandler {
				panic(p) // net/http's way to drop the connection: let it
			}
		}()
		h.ServeHTTP(rw, r)
	})
}

// finish records one answered request and writes its log line: an error
// when the handler panicked, else level-less with -access-log (so it is
// written whatever log_level says), else at debug level.
func (m *middleware) finish(rw *respWriter, r *http.Request, d time.Duration, crashed bool, p any) {
	ep := m.met.done(r.URL.Path, rw.status, rw.n, d)
	var ev *zerolog.Event
	msg := "access"
	switch {
	case crashed:
		ev, msg = m.log.Error().Interface("panic", p), "handler panic"
	case m.access:
		ev = m.log.Log()
	default:
		ev = m.log.Debug()
	}
	ev = ev.Str("peer", r.RemoteAddr).Str("method", r.Method).Str("endpoint", ep).
		Str("uri", clip(r.URL.RequestURI(), 200)).Int("code", rw.status)
	if rw.code != "" {
		ev = ev.Str("json_code", rw.code)
	}
	ev.Int64("bytes", rw.n).Float64("ms", float64(d.Microseconds())/1000).Msg(msg)
}

// internalError answers a request whose handler panicked before writing.
func (w *respWriter) internalError() {
	w.code = "500"
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusInternalServerError)
	w.Write([]byte(`{"code":"500","msg":"internal error"}` + "\n"))
}

// respWriter records what the middleware reports of a response: the HTTP
// status, the body bytes and the reply's JSON code (noteCode).
type respWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	n      int64
	code   string
}

func (w *respWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *respWriter) Write(b []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// noteCode gives the respWriter under w the "code" of a JSON reply body
// (reply calls it), for the request's log line.
func noteCode(w http.ResponseWriter, body any) {
	m, _ := body.(map[string]any)
	code, _ := m["code"].(string)
	for {
		switch x := w.(type) {
		case *respWriter:
			x.code = code
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return
		}
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
