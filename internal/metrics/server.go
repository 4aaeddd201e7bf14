package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ContentType is the Prometheus text format's.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// The listener's bounds: connections served at once (more are closed
// unanswered), the request head, a request body read and dropped, the time
// to read a request, to wait for the next one on a kept connection, and to
// write an answer.
const (
	maxConns     = 8
	maxHead      = 8 << 10
	maxBody      = 64 << 10
	readTimeout  = 5 * time.Second
	idleTimeout  = 30 * time.Second
	writeTimeout = 10 * time.Second
)

// Server answers GET and HEAD /metrics over HTTP/1.1 (kept connections,
// requests answered in order) with the text format: yunpan_goroutines, the go_ and
// process_ metrics (runtime.go) and the registry's. Other paths get 404,
// other methods 405. It is this small HTTP subset rather than net/http
// because a daemon that serves no other HTTP (the tracker) would
// otherwise keep about 2.5 MiB of net/http and crypto/tls resident.
type Server struct {
	ln   net.Listener
	reg  *Registry
	sem  chan struct{}
	done chan struct{} // closed by Close
	once sync.Once
	wg   sync.WaitGroup // connection goroutines

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// Listen binds addr ("host:port", port 0 for any) for reg. Serve must be
// called to answer.
func Listen(addr string, reg *Registry) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	return &Server{ln: ln, reg: reg, sem: make(chan struct{}, maxConns), done: make(chan struct{}), conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers until Close; after Close it returns nil once every
// connection it served has ended.
func (s *Server) Serve() error {
	defer s.wg.Wait()
	backoff := 5 * time.Millisecond
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// EMFILE and friends: wait a little rather than spin.
			select {
			case <-s.done:
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		select {
		case s.sem <- struct{}{}:
		default:
			c.Close() // too many at once
			continue
		}
		if !s.track(c) {
			c.Close()
			<-s.sem
			continue
		}
		go func() {
			defer func() {
				c.Close()
				s.untrack(c)
				<-s.sem
				s.wg.Done()
			}()
			s.serveConn(c)
		}()
	}
}

// track registers c (and counts its goroutine), or refuses it after Close.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close stops the listener and every connection. It does not wait for
// Serve to return (the owner's WaitGroup does).
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.ln.Close()
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	return err
}

// errHeadTooLarge is a request head over maxHead or a body over maxBody.
var errHeadTooLarge = errors.New("request too large")

// request is what serveConn needs of one.
type request struct {
	method, path string // path without its query
	bodyLen      int64  // Content-Length, 0 when none
	close        bool   // Connection: close, or HTTP/1.0 without keep-alive
}

// serveConn answers the requests of one connection until the client
// closes it, asks to, stalls or sends something it cannot answer.
func (s *Server) serveConn(c net.Conn) {
	br := bufio.NewReaderSize(c, 1024)
	for timeout := readTimeout; ; timeout = idleTimeout {
		c.SetReadDeadline(time.Now().Add(timeout))
		req, err := readRequest(br)
		if err == nil && req.bodyLen > 0 {
			// Read a small body before answering: closing with unread
			// data would reset the connection under the answer.
			if req.bodyLen > maxBody {
				err = errHeadTooLarge
			} else {
				_, err = io.CopyN(io.Discard, br, req.bodyLen)
			}
		}
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		var ne net.Error
		switch {
		case errors.Is(err, errHeadTooLarge):
			reply(c, "431 Request Header Fields Too Large", "", []byte("request too large\n"), false, true)
			return
		case errors.Is(err, io.EOF) || errors.As(err, &ne) && ne.Timeout():
			return // the client left or stalled
		case err != nil:
			reply(c, "400 Bad Request", "", []byte("bad request\n"), false, true)
			return
		case req.path != "/metrics":
			err = reply(c, "404 Not Found", "", []byte("404 page not found\n"), false, req.close)
		case req.method != "GET" && req.method != "HEAD":
			err = reply(c, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", []byte("method not allowed\n"), false, req.close)
		default:
			err = reply(c, "200 OK", "", s.reg.scrape(), req.method == "HEAD", req.close)
		}
		if err != nil || req.close {
			return
		}
	}
}

// readRequest reads an HTTP/1.x request head.
func readRequest(br *bufio.Reader) (request, error) {
	var req request
	n := 0
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		n += len(line)
		if errors.Is(err, bufio.ErrBufferFull) || n > maxHead {
			return req, errHeadTooLarge
		}
		if err != nil {
			if !first && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return req, err
		}
		text := strings.TrimRight(string(line), "\r\n")
		if first {
			f := strings.Split(text, " ")
			if len(f) != 3 || f[0] == "" || !strings.HasPrefix(f[1], "/") || f[2] != "HTTP/1.1" && f[2] != "HTTP/1.0" {
				return req, fmt.Errorf("bad request line %q", text)
			}
			req.method, req.path, req.close = f[0], f[1], f[2] == "HTTP/1.0"
			if i := strings.IndexByte(req.path, '?'); i >= 0 {
				req.path = req.path[:i]
			}
			continue
		}
		if text == "" {
			return req, nil
		}
		k, v, ok := strings.Cut(text, ":")
		if !ok {
			return req, fmt.Errorf("bad header line %q", text)
		}
		v = strings.TrimSpace(v)
		switch {
		case strings.EqualFold(k, "Content-Length"):
			if req.bodyLen, err = strconv.ParseInt(v, 10, 64); err != nil || req.bodyLen < 0 {
				return req, fmt.Errorf("bad Content-Length %q", v)
			}
		case strings.EqualFold(k, "Transfer-Encoding"):
			return req, fmt.Errorf("request body with Transfer-Encoding %q", v)
		case strings.EqualFold(k, "Connection"):
			switch {
			case strings.EqualFold(v, "close"):
				req.close = true
			case strings.EqualFold(v, "keep-alive"):
				req.close = false
			}
		}
	}
}

// reply writes a whole response.
func reply(w io.Writer, status, header string, body []byte, head, close bool) error {
	ct := "text/plain; charset=utf-8"
	if strings.HasPrefix(status, "200") {
		ct = ContentType
	}
	if close {
		header += "Connection: close\r\n"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n", status, ct, len(body), header)
	if !head {
		b.Write(body)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// scrape is what /metrics shows. yunpan_goroutines is counted first, so
// it does not depend on how the rest is gathered.
func (r *Registry) scrape() []byte {
	s := newSet()
	s.Gauge("yunpan_goroutines", "Number of goroutines, counted before the scrape's own gathering ones start.",
		float64(runtime.NumGoroutine()))
	collectRuntime(s)
	r.gather(s)
	var b bytes.Buffer
	b.Grow(int(r.lastSize.Load()) * 9 / 8) // one allocation, not a series of doublings
	s.write(&b)                            // what is left out is a programming error the tests see through WriteText
	r.lastSize.Store(int64(b.Len()))
	return b.Bytes()
}
