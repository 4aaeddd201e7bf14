package app

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"strconv"
	"sync"
	"time"
)

// A FastCGI responder (the FastCGI specification, 1996) in place of
// net/http/fcgi, for the upload path's sake: net/http/fcgi allocates and
// zeroes a 64 KiB writer for every request, hands the body from the
// connection's goroutine to the handler's through an io.Pipe (a goroutine
// switch per STDIN record), and reads and writes every record with system
// calls of its own. Here one goroutine per connection reads the request,
// runs the handler, which reads the STDIN records straight from the
// connection's buffer, and writes the answer through the connection's
// buffer in one write. Nginx never multiplexes requests on a connection
// (we answer FCGI_MPXS_CONNS=0, and refuse a second request with
// CANT_MPX_CONN), so one request at a time per connection is the whole
// protocol it needs.

// FastCGI record types, roles, flags and protocol statuses.
const (
	fcgiVersion1        = 1
	fcgiBeginRequest    = 1
	fcgiAbortRequest    = 2
	fcgiEndRequest      = 3
	fcgiParams          = 4
	fcgiStdin           = 5
	fcgiStdout          = 6
	fcgiStderr          = 7
	fcgiGetValues       = 9
	fcgiGetValuesResult = 10
	fcgiUnknownType     = 11

	fcgiResponder = 1
	fcgiKeepConn  = 1

	fcgiRequestComplete = 0
	fcgiCantMpxConn     = 1
	fcgiUnknownRole     = 3

	fcgiMaxContent = 65535
)

// maxFCGIParams bounds a request's PARAMS stream (the CGI variables and
// the HTTP headers; Nginx's own header limit is far below it).
const maxFCGIParams = 256 << 10

// maxFCGIDrain is how much of a body the handler left unread is read and
// dropped to keep the connection; past it the connection is closed
// instead (Nginx opens another).
const maxFCGIDrain = 1 << 20

// fcgiIdle bounds the wait for the next request on a kept connection and
// for each record within a request.
const fcgiIdle = 10 * time.Minute

var errFCGIAborted = errors.New("fastcgi: request aborted by the web server")

// serveFastCGI accepts FastCGI connections on l and serves each in its own
// goroutine until l is closed.
func serveFastCGI(l net.Listener, h http.Handler) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go newFCGIConn(c, h).serve()
	}
}

// fcgiBufs are the connections' read and write buffers, reused across
// connections.
var (
	fcgiReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}
	fcgiWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}
)

// fcgiConn is one connection from the web server.
type fcgiConn struct {
	c   net.Conn
	h   http.Handler
	r   *bufio.Reader
	w   *bufio.Writer
	hdr [8]byte
}

// fcgiHeader is a record's header.
type fcgiHeader struct {
	typ     byte
	id      uint16
	content int
	pad     int
}

func newFCGIConn(c net.Conn, h http.Handler) *fcgiConn {
	fc := &fcgiConn{c: c, h: h, r: fcgiReaders.Get().(*bufio.Reader), w: fcgiWriters.Get().(*bufio.Writer)}
	fc.r.Reset(c)
	fc.w.Reset(c)
	return fc
}

func (fc *fcgiConn) serve() {
	defer func() {
		fc.c.Close()
		fc.r.Reset(nil)
		fc.w.Reset(nil)
		fcgiReaders.Put(fc.r)
		fcgiWriters.Put(fc.w)
	}()
	for {
		keep, err := fc.serveRequest()
		if err != nil || !keep {
			return
		}
	}
}

// readHeader reads the next record's header.
func (fc *fcgiConn) readHeader() (fcgiHeader, error) {
	fc.c.SetReadDeadline(time.Now().Add(fcgiIdle))
	if _, err := io.ReadFull(fc.r, fc.hdr[:]); err != nil {
		return fcgiHeader{}, err
	}
	if fc.hdr[0] != fcgiVersion1 {
		return fcgiHeader{}, fmt.Errorf("fastcgi: version %d", fc.hdr[0])
	}
	return fcgiHeader{typ: fc.hdr[1], id: binary.BigEndian.Uint16(fc.hdr[2:]),
		content: int(binary.BigEndian.Uint16(fc.hdr[4:])), pad: int(fc.hdr[6])}, nil
}

// readContent reads a record's content (into buf, grown as needed) and
// skips its padding.
func (fc *fcgiConn) readContent(h fcgiHeader, buf []byte) ([]byte, error) {
	buf = append(buf[:0], make([]byte, h.content)...)
	if _, err := io.ReadFull(fc.r, buf); err != nil {
		return nil, err
	}
	_, err := fc.r.Discard(h.pad)
	return buf, err
}

// skip drops a record's content and padding.
func (fc *fcgiConn) skip(h fcgiHeader) error {
	_, err := fc.r.Discard(h.content + h.pad)
	return err
}

// writeRecord appends one record to the connection's buffer.
func (fc *fcgiConn) writeRecord(typ byte, id uint16, content []byte) error {
	var h [8]byte
	h[0], h[1] = fcgiVersion1, typ
	binary.BigEndian.PutUint16(h[2:], id)
	binary.BigEndian.PutUint16(h[4:], uint16(len(content)))
	pad := -len(content) & 7
	h[6] = byte(pad)
	fc.w.Write(h[:])
	fc.w.Write(content)
	var zeros [8]byte
	_, err := fc.w.Write(zeros[:pad])
	return err
}

func (fc *fcgiConn) endRequest(id uint16, status byte) error {
	return fc.writeRecord(fcgiEndRequest, id, []byte{0, 0, 0, 0, status, 0, 0, 0})
}

// flush sends what the buffer holds.
func (fc *fcgiConn) flush() error {
	fc.c.SetWriteDeadline(time.Now().Add(fcgiIdle))
	return fc.w.Flush()
}

// other answers a record that does not belong to the current request:
// GET_VALUES, a second BEGIN_REQUEST (refused: no multiplexing), an
// unknown management record; anything else is dropped.
func (fc *fcgiConn) other(h fcgiHeader) error {
	switch {
	case h.typ == fcgiBeginRequest:
		if err := fc.skip(h); err != nil {
			return err
		}
		if err := fc.endRequest(h.id, fcgiCantMpxConn); err != nil {
			return err
		}
		return fc.flush()
	case h.typ == fcgiGetValues:
		if err := fc.skip(h); err != nil {
			return err
		}
		if err := fc.writeRecord(fcgiGetValuesResult, 0, fcgiPairs("FCGI_MPXS_CONNS", "0")); err != nil {
			return err
		}
		return fc.flush()
	case h.id == 0:
		if err := fc.skip(h); err != nil {
			return err
		}
		if err := fc.writeRecord(fcgiUnknownType, 0, []byte{h.typ, 0, 0, 0, 0, 0, 0, 0}); err != nil {
			return err
		}
		return fc.flush()
	default:
		return fc.skip(h)
	}
}

// serveRequest reads one request, runs the handler and writes the answer.
// keep reports whether the connection carries on.
func (fc *fcgiConn) serveRequest() (keep bool, err error) {
	// BEGIN_REQUEST.
	var id uint16
	for {
		h, err := fc.readHeader()
		if err != nil {
			return false, err
		}
		if h.typ != fcgiBeginRequest {
			if err := fc.other(h); err != nil {
				return false, err
			}
			continue
		}
		b, err := fc.readContent(h, nil)
		if err != nil {
			return false, err
		}
		if len(b) != 8 {
			return false, fmt.Errorf("fastcgi: BEGIN_REQUEST of %d bytes", len(b))
		}
		keep = b[2]&fcgiKeepConn != 0
		if role := binary.BigEndian.Uint16(b); role != fcgiResponder {
			if err := fc.endRequest(h.id, fcgiUnknownRole); err != nil {
				return false, err
			}
			return keep, fc.flush()
		}
		id = h.id
		break
	}
	// PARAMS, up to the empty record.
	var raw []byte
	for {
		h, err := fc.readHeader()
		if err != nil {
			return false, err
		}
		switch {
		case h.id == id && h.typ == fcgiParams:
			if h.content == 0 {
				if err := fc.skip(h); err != nil {
					return false, err
				}
				return fc.run(id, keep, raw)
			}
			if len(raw)+h.content > maxFCGIParams {
				return false, fmt.Errorf("fastcgi: more than %d bytes of PARAMS", maxFCGIParams)
			}
			start := len(raw)
			raw = append(raw, make([]byte, h.content)...)
			if _, err := io.ReadFull(fc.r, raw[start:]); err != nil {
				return false, err
			}
			if _, err := fc.r.Discard(h.pad); err != nil {
				return false, err
			}
		case h.id == id && h.typ == fcgiAbortRequest:
			if err := fc.skip(h); err != nil {
				return false, err
			}
			if err := fc.endRequest(id, fcgiRequestComplete); err != nil {
				return false, err
			}
			return keep, fc.flush()
		default:
			if err := fc.other(h); err != nil {
				return false, err
			}
		}
	}
}

// run builds the http.Request, runs the handler and ends the request.
func (fc *fcgiConn) run(id uint16, keep bool, raw []byte) (bool, error) {
	params, err := parseFCGIPairs(raw)
	body := &fcgiBody{fc: fc, id: id}
	w := &fcgiResponse{fc: fc, id: id, header: http.Header{}}
	var req *http.Request
	if err == nil {
		req, err = cgi.RequestFromMap(params)
	}
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		fc.writeRecord(fcgiStderr, id, []byte(err.Error()))
	} else {
		req.Body = body
		if !fc.handle(w, req.WithContext(context.Background())) {
			return false, errors.New("fastcgi: handler panicked") // the answer is cut short: close
		}
	}
	if !body.aborted {
		w.finish()
		fc.writeRecord(fcgiStdout, id, nil)
	}
	if err := fc.endRequest(id, fcgiRequestComplete); err != nil {
		return false, err
	}
	if err := fc.flush(); err != nil {
		return false, err
	}
	switch {
	case body.err == io.EOF: // read whole
	case body.err != nil: // aborted or broken
		return false, nil
	default:
		// The rest of the body (a refused upload): read it to keep the
		// connection, unless there is much of it.
		if io.CopyN(io.Discard, body, maxFCGIDrain); body.err != io.EOF {
			fc.linger()
			return false, nil
		}
	}
	return keep, nil
}

// lingerMax and lingerWait bound what linger reads and how long it waits.
const (
	lingerMax  = 64 << 20
	lingerWait = 2 * time.Second
)

// linger ends a connection whose request body is still arriving after the
// answer went out: closing at once would reset the connection, and a reset
// makes the web server drop the answer it has not read yet (a 413 would
// reach the browser as a 502). The sending side is closed first, then the
// rest of the input read and dropped, bounded in bytes and time.
func (fc *fcgiConn) linger() {
	cw, ok := fc.c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	fc.c.SetReadDeadline(time.Now().Add(lingerWait))
	io.CopyN(io.Discard, fc.r, lingerMax)
}

// handle runs the handler; false when it panicked (the middleware answers
// a panic with a 500 and passes only http.ErrAbortHandler on).
func (fc *fcgiConn) handle(w http.ResponseWriter, r *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
		}
	}()
	fc.h.ServeHTTP(w, r)
	return true
}

// fcgiBody reads the request's STDIN stream straight from the connection.
type fcgiBody struct {
	fc      *fcgiConn
	id      uint16
	left    int // content left in the current STDIN record
	pad     int // its padding, skipped before the next header
	err     error
	aborted bool
}

func (b *fcgiBody) Read(p []byte) (int, error) {
	for b.left == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if _, err := b.fc.r.Discard(b.pad); err != nil {
			b.err = err
			return 0, err
		}
		b.pad = 0
		h, err := b.fc.readHeader()
		if err != nil {
			b.err = err
			return 0, err
		}
		switch {
		case h.id == b.id && h.typ == fcgiStdin:
			if h.content == 0 {
				b.pad = h.pad
				if _, err := b.fc.r.Discard(b.pad); err != nil {
					b.err = err
					return 0, err
				}
				b.err = io.EOF
				return 0, io.EOF
			}
			b.left, b.pad = h.content, h.pad
		case h.id == b.id && h.typ == fcgiAbortRequest:
			b.fc.skip(h)
			b.err, b.aborted = errFCGIAborted, true
			return 0, b.err
		default:
			if err := b.fc.other(h); err != nil {
				b.err = err
				return 0, err
			}
		}
	}
	n, err := b.fc.r.Read(p[:min(len(p), b.left)])
	b.left -= n
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

func (b *fcgiBody) Close() error { return nil }

// fcgiResponse is the handler's http.ResponseWriter: the CGI header and
// the body go out as STDOUT records through the connection's buffer.
type fcgiResponse struct {
	fc          *fcgiConn
	id          uint16
	header      http.Header
	code        int
	wroteHeader bool // WriteHeader was called
	sentHeader  bool // the CGI header is written
}

func (w *fcgiResponse) Header() http.Header { return w.header }

func (w *fcgiResponse) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader, w.code = true, code
	if code == http.StatusNotModified {
		w.header.Del("Content-Type")
		w.header.Del("Content-Length")
		w.header.Del("Transfer-Encoding")
	}
	if w.header.Get("Date") == "" {
		w.header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
}

// sendHeader writes the CGI header, sniffing the type from the first
// bytes of the body when none was set.
func (w *fcgiResponse) sendHeader(p []byte) {
	if w.sentHeader {
		return
	}
	w.sentHeader = true
	if _, ok := w.header["Content-Type"]; !ok && w.code != http.StatusNotModified {
		w.header.Set("Content-Type", http.DetectContentType(p))
	}
	var b []byte
	b = append(b, "Status: "...)
	b = strconv.AppendInt(b, int64(w.code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(w.code)...)
	b = append(b, "\r\n"...)
	hw := appendWriter{b}
	w.header.Write(&hw)
	w.writeStdout(append(hw.b, "\r\n"...))
}

func (w *fcgiResponse) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.sendHeader(p)
	return len(p), w.writeStdout(p)
}

// writeStdout writes p as STDOUT records of at most fcgiMaxContent bytes
// (a full buffer is sent on the way).
func (w *fcgiResponse) writeStdout(p []byte) error {
	w.fc.c.SetWriteDeadline(time.Now().Add(fcgiIdle))
	for len(p) > 0 {
		n := min(len(p), fcgiMaxContent)
		if err := w.fc.writeRecord(fcgiStdout, w.id, p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// Flush sends what is buffered (our handlers do not stream; for
// completeness).
func (w *fcgiResponse) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.sendHeader(nil)
	w.fc.flush()
}

// finish writes the header of an answer without a body.
func (w *fcgiResponse) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.sendHeader(nil)
}

type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// parseFCGIPairs decodes a PARAMS stream: name-value pairs, each length
// one byte below 128, else four bytes with the top bit set.
func parseFCGIPairs(b []byte) (map[string]string, error) {
	m := make(map[string]string, 32)
	size := func() (int, bool) {
		if len(b) == 0 {
			return 0, false
		}
		if b[0] < 0x80 {
			n := int(b[0])
			b = b[1:]
			return n, true
		}
		if len(b) < 4 {
			return 0, false
		}
		n := int(binary.BigEndian.Uint32(b) &^ (1 << 31))
		b = b[4:]
		return n, true
	}
	for len(b) > 0 {
		kn, ok1 := size()
		vn, ok2 := size()
		if !ok1 || !ok2 || kn > len(b) || vn > len(b)-kn {
			return nil, errors.New("fastcgi: malformed PARAMS")
		}
		m[string(b[:kn])] = string(b[kn : kn+vn])
		b = b[kn+vn:]
	}
	return m, nil
}

// fcgiPairs encodes name-value pairs (short ones: GET_VALUES_RESULT).
func fcgiPairs(kv ...string) []byte {
	var b []byte
	for i := 0; i+1 < len(kv); i += 2 {
		b = append(b, byte(len(kv[i])), byte(len(kv[i+1])))
		b = append(b, kv[i]...)
		b = append(b, kv[i+1]...)
	}
	return b
}
