package app

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHoldRecord(t *testing.T) {
	rec := func(typ byte, content, pad int) []byte {
		b := make([]byte, 8+content+pad)
		b[0], b[1] = 1, typ
		binary.BigEndian.PutUint16(b[4:], uint16(content))
		b[6] = byte(pad)
		return b
	}
	require.True(t, holdRecord(rec(fcgiStdout, 10, 6)))
	require.True(t, holdRecord(rec(fcgiStderr, 0, 0)))
	require.False(t, holdRecord(rec(3, 8, 0)), "END_REQUEST goes out at once")
	require.False(t, holdRecord(rec(fcgiStdout, 10, 6)[:12]), "not a whole record")
	require.False(t, holdRecord(append(rec(fcgiStdout, 10, 6), 0)), "more than one record")
	require.False(t, holdRecord([]byte{1, 6}))
}

// fcgiRecord appends one FastCGI record.
func fcgiRecord(b []byte, typ byte, id uint16, content []byte) []byte {
	h := make([]byte, 8)
	h[0], h[1] = 1, typ
	binary.BigEndian.PutUint16(h[2:], id)
	binary.BigEndian.PutUint16(h[4:], uint16(len(content)))
	return append(append(b, h...), content...)
}

func fcgiParams(kv ...string) []byte {
	var b []byte
	for i := 0; i < len(kv); i += 2 {
		b = append(b, byte(len(kv[i])), byte(len(kv[i+1])))
		b = append(b, kv[i]+kv[i+1]...)
	}
	return b
}

// TestBufferedFastCGI runs requests over one kept-alive connection to
// fcgi.Serve on a bufferedListener, as Nginx does: small and large answers
// arrive whole and END_REQUEST is never held back.
func TestBufferedFastCGI(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	big := strings.Repeat("0123456789abcdef", 20000) // 320,000 bytes: several full buffers
	done := make(chan error, 1)
	go func() {
		done <- fcgi.Serve(bufferedListener{l}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if r.URL.Path == "/big" {
				io.WriteString(w, big)
				return
			}
			w.Write(append([]byte("echo:"), body...))
		}))
	}()
	defer func() { l.Close(); <-done }()

	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	ask := func(id uint16, uri, body string) string {
		var req []byte
		req = fcgiRecord(req, 1, id, []byte{0, 1, 1, 0, 0, 0, 0, 0}) // BEGIN_REQUEST, responder, keep conn
		req = fcgiRecord(req, 4, id, fcgiParams("REQUEST_METHOD", "POST", "REQUEST_URI", uri, "SCRIPT_NAME", uri,
			"CONTENT_LENGTH", strconv.Itoa(len(body)), "SERVER_PROTOCOL", "HTTP/1.1"))
		req = fcgiRecord(req, 4, id, nil)
		if body != "" {
			req = fcgiRecord(req, 5, id, []byte(body))
		}
		req = fcgiRecord(req, 5, id, nil)
		require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
		_, err := c.Write(req)
		require.NoError(t, err)
		var out bytes.Buffer
		for {
			h := make([]byte, 8)
			_, err := io.ReadFull(br, h)
			require.NoError(t, err, "END_REQUEST must arrive")
			n := int(binary.BigEndian.Uint16(h[4:])) + int(h[6])
			content := make([]byte, n)
			_, err = io.ReadFull(br, content)
			require.NoError(t, err)
			require.Equal(t, id, binary.BigEndian.Uint16(h[2:]))
			switch h[1] {
			case fcgiStdout:
				out.Write(content[:n-int(h[6])])
			case 3:
				_, resp, ok := strings.Cut(out.String(), "\r\n\r\n")
				require.True(t, ok, "%q", out.String())
				return resp
			}
		}
	}
	require.Equal(t, "echo:hello", ask(1, "/small", "hello"))
	require.Equal(t, big, ask(2, "/big", ""))
	require.Equal(t, "echo:", ask(3, "/small", ""))
}
