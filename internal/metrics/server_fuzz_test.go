package metrics

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzReadRequest feeds arbitrary bytes to the /metrics listener's request
// parser: it never panics, never takes more than maxHead of head, and a
// request it accepts has a method, a path starting with "/" and no query,
// and a body length of zero or more.
func FuzzReadRequest(f *testing.F) {
	for _, seed := range []string{
		"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /metrics?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
		"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"GET metrics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/2\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nbad header\r\n\r\n",
		"GET /metrics HTTP/1.1\n\n",
		"GET /" + strings.Repeat("a", 2000) + " HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &countingReader{r: bytes.NewReader(data)}
		br := bufio.NewReaderSize(src, 1024)
		req, err := readRequest(br)
		if consumed := src.n - br.Buffered(); consumed > maxHead+1024 {
			t.Fatalf("read %d bytes of head, bound %d", consumed, maxHead)
		}
		if err != nil {
			return
		}
		if req.method == "" || !strings.HasPrefix(req.path, "/") || strings.Contains(req.path, "?") || req.bodyLen < 0 {
			t.Fatalf("accepted %+v from %q", req, data)
		}
	})
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
