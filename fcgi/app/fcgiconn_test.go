package app

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fcgiRecord appends one FastCGI record.
func fcgiRecord(b []byte, typ byte, id uint16, content []byte) []byte {
	h := make([]byte, 8)
	h[0], h[1] = 1, typ
	binary.BigEndian.PutUint16(h[2:], id)
	binary.BigEndian.PutUint16(h[4:], uint16(len(content)))
	pad := -len(content) & 7
	h[6] = byte(pad)
	return append(append(append(b, h...), content...), make([]byte, pad)...)
}

// fcgiBegin is a responder's BEGIN_REQUEST with its PARAMS.
func fcgiBegin(id uint16, keep bool, uri string, bodyLen int) []byte {
	flags := byte(0)
	if keep {
		flags = fcgiKeepConn
	}
	req := fcgiRecord(nil, fcgiBeginRequest, id, []byte{0, fcgiResponder, flags, 0, 0, 0, 0, 0})
	req = fcgiRecord(req, fcgiParams, id, fcgiPairs("REQUEST_METHOD", "POST", "REQUEST_URI", uri, "SCRIPT_NAME", uri,
		"CONTENT_LENGTH", strconv.Itoa(bodyLen), "SERVER_PROTOCOL", "HTTP/1.1", "REMOTE_ADDR", "127.0.0.9", "REMOTE_PORT", "4242"))
	return fcgiRecord(req, fcgiParams, id, nil)
}

// fcgiStdinRecords is a body as STDIN records of at most 1000 bytes (so
// that a body spans several), ended by the empty one.
func fcgiStdinRecords(id uint16, body string) []byte {
	var b []byte
	for len(body) > 0 {
		n := min(len(body), 1000)
		b = fcgiRecord(b, fcgiStdin, id, []byte(body[:n]))
		body = body[n:]
	}
	return fcgiRecord(b, fcgiStdin, id, nil)
}

// fcgiPeer is the web server's side of one connection.
type fcgiPeer struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

// record reads one record: type, id, content.
func (p *fcgiPeer) record() (byte, uint16, []byte, error) {
	h := make([]byte, 8)
	if _, err := io.ReadFull(p.br, h); err != nil {
		return 0, 0, nil, err
	}
	n := int(binary.BigEndian.Uint16(h[4:])) + int(h[6])
	content := make([]byte, n)
	if _, err := io.ReadFull(p.br, content); err != nil {
		return 0, 0, nil, err
	}
	return h[1], binary.BigEndian.Uint16(h[2:]), content[:n-int(h[6])], nil
}

// answer reads STDOUT up to END_REQUEST: the CGI head and the body.
func (p *fcgiPeer) answer(id uint16) (head, body string) {
	p.t.Helper()
	var out bytes.Buffer
	for {
		typ, rid, content, err := p.record()
		require.NoError(p.t, err, "END_REQUEST must arrive")
		require.Equal(p.t, id, rid)
		switch typ {
		case fcgiStdout:
			out.Write(content)
		case fcgiEndRequest:
			require.Equal(p.t, byte(fcgiRequestComplete), content[4])
			head, body, ok := strings.Cut(out.String(), "\r\n\r\n")
			require.True(p.t, ok, "%q", out.String())
			return head, body
		}
	}
}

func (p *fcgiPeer) send(b []byte) {
	p.t.Helper()
	require.NoError(p.t, p.c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err := p.c.Write(b)
	require.NoError(p.t, err)
}

// startFCGI serves h with serveFastCGI on a loopback port.
func startFCGI(t *testing.T, h http.HandlerFunc) func() *fcgiPeer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- serveFastCGI(l, h) }()
	t.Cleanup(func() { l.Close(); <-done })
	return func() *fcgiPeer {
		c, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return &fcgiPeer{t: t, c: c, br: bufio.NewReader(c)}
	}
}

// Requests over one kept-alive connection, as Nginx sends them: bodies in
// several records, small and large answers (several full records and
// buffers), the request as net/http/fcgi built it, a sniffed type.
func TestFastCGIKeptConnection(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 20000) // 320,000 bytes
	dial := startFCGI(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/big":
			io.WriteString(w, big)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write(append([]byte(r.Method+" "+r.RemoteAddr+" "+strconv.FormatInt(r.ContentLength, 10)+" "), body...))
		}
	})
	p := dial()
	ask := func(id uint16, uri, body string) (string, string) {
		p.send(append(fcgiBegin(id, true, uri, len(body)), fcgiStdinRecords(id, body)...))
		return p.answer(id)
	}
	long := strings.Repeat("x", 2500)
	head, body := ask(1, "/small", long)
	require.Equal(t, "POST 127.0.0.9:4242 2500 "+long, body)
	require.Contains(t, head, "Status: 200 OK\r\n")
	require.Contains(t, head, "Content-Type: application/json")
	head, body = ask(2, "/big", "")
	require.Equal(t, big, body)
	require.Contains(t, head, "Content-Type: text/plain; charset=utf-8", "sniffed")
	head, body = ask(3, "/empty", "")
	require.Equal(t, "", body)
	require.Contains(t, head, "Status: 204 No Content")
	_, body = ask(4, "/small", "")
	require.Equal(t, "POST 127.0.0.9:4242 0 ", body)
}

// What Nginx never sends but a FastCGI server must take: GET_VALUES, a
// second request on a busy connection (refused: no multiplexing), an
// abort, a body the handler did not read (dropped, the connection kept),
// an unknown role; and a handler that panics costs only its connection.
func TestFastCGIProtocolCorners(t *testing.T) {
	dial := startFCGI(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/wait": // reads the body while the peer sends other records
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			w.Write(b)
		case "/ignore":
			io.WriteString(w, "not read")
		case "/panic":
			panic(http.ErrAbortHandler)
		}
	})

	p := dial()
	p.send(fcgiRecord(nil, fcgiGetValues, 0, fcgiPairs("FCGI_MPXS_CONNS", "")))
	typ, _, content, err := p.record()
	require.NoError(t, err)
	require.Equal(t, byte(fcgiGetValuesResult), typ)
	require.Equal(t, fcgiPairs("FCGI_MPXS_CONNS", "0"), content)

	// A second BEGIN_REQUEST while the first is reading its body.
	req := fcgiBegin(1, true, "/wait", 4)
	req = fcgiRecord(req, fcgiStdin, 1, []byte("ab"))
	req = append(req, fcgiBegin(2, true, "/wait", 0)...)
	req = append(req, fcgiRecord(nil, fcgiStdin, 1, []byte("cd"))...)
	req = fcgiRecord(req, fcgiStdin, 1, nil)
	p.send(req)
	typ, id, content, err := p.record()
	require.NoError(t, err)
	require.Equal(t, []any{byte(fcgiEndRequest), uint16(2), byte(fcgiCantMpxConn)}, []any{typ, id, content[4]})
	_, body := p.answer(1)
	require.Equal(t, "abcd", body)

	// A body left unread is dropped; the connection serves the next one.
	p.send(append(fcgiBegin(3, true, "/ignore", 3000), fcgiStdinRecords(3, strings.Repeat("z", 3000))...))
	_, body = p.answer(3)
	require.Equal(t, "not read", body)
	p.send(append(fcgiBegin(4, true, "/wait", 2), fcgiStdinRecords(4, "ok")...))
	_, body = p.answer(4)
	require.Equal(t, "ok", body)

	// An abort while the handler reads: END_REQUEST, no answer.
	p.send(append(fcgiBegin(5, true, "/wait", 10), fcgiRecord(fcgiRecord(nil, fcgiStdin, 5, []byte("abc")), fcgiAbortRequest, 5, nil)...))
	typ, id, _, err = p.record()
	require.NoError(t, err)
	require.Equal(t, []any{byte(fcgiEndRequest), uint16(5)}, []any{typ, id})

	// An unknown role.
	q := dial()
	q.send(fcgiRecord(nil, fcgiBeginRequest, 7, []byte{0, 2, fcgiKeepConn, 0, 0, 0, 0, 0}))
	typ, id, content, err = q.record()
	require.NoError(t, err)
	require.Equal(t, []any{byte(fcgiEndRequest), uint16(7), byte(fcgiUnknownRole)}, []any{typ, id, content[4]})

	// A panic closes its connection; the server goes on.
	q.send(append(fcgiBegin(8, true, "/panic", 0), fcgiStdinRecords(8, "")...))
	_, _, _, err = q.record()
	require.ErrorIs(t, err, io.EOF)
	r := dial()
	r.send(append(fcgiBegin(9, false, "/wait", 1), fcgiStdinRecords(9, "!")...))
	_, body = r.answer(9)
	require.Equal(t, "!", body)
	_, _, _, err = r.record()
	require.ErrorIs(t, err, io.EOF, "without FCGI_KEEP_CONN the connection ends with the request")
}
