package app

import (
	"bufio"
	"net"
	"sync"
)

// FastCGI record types (the FastCGI specification, section 8).
const (
	fcgiVersion1 = 1
	fcgiStdout   = 6
	fcgiStderr   = 7
)

// bufferedListener gives net/http/fcgi buffered connections. Unbuffered, it
// reads every record with two system calls (the 8-byte header, then the
// body) and writes every record with one, so a small request and its answer
// cost about fifteen system calls; with buffers, about three.
type bufferedListener struct{ net.Listener }

func (l bufferedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}, nil
}

// bufferedConn holds back the response's STDOUT and STDERR records until a
// record of another type (END_REQUEST ends every response) or 64 KiB of
// them are waiting, so a small answer leaves in one write. net/http/fcgi
// writes each record with a single Write; anything that does not look like
// one whole record is written through at once. Our handlers never use
// http.Flusher, whose flushes would otherwise wait here too.
type bufferedConn struct {
	net.Conn
	r  *bufio.Reader
	mu sync.Mutex // net/http/fcgi serialises writes, but be safe
	w  *bufio.Writer
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.w.Write(p)
	if err == nil && !holdRecord(p) {
		err = c.w.Flush()
	}
	return n, err
}

// holdRecord reports whether p is exactly one STDOUT or STDERR record.
func holdRecord(p []byte) bool {
	if len(p) < 8 || p[0] != fcgiVersion1 || (p[1] != fcgiStdout && p[1] != fcgiStderr) {
		return false
	}
	content := int(p[4])<<8 | int(p[5])
	return len(p) == 8+content+int(p[6])
}
