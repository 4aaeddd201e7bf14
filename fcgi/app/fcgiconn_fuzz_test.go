package app

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// FuzzFastCGIConn feeds arbitrary bytes to the FastCGI responder as a web
// server's connection: whatever the records say (lengths, types, ids,
// params, padding, requests cut short), it never panics, never writes
// without bound, and ends the connection once the peer is gone.
func FuzzFastCGIConn(f *testing.F) {
	f.Add(append(fcgiBegin(1, true, "/echo", 5), fcgiStdinRecords(1, "hello")...))
	f.Add(append(fcgiBegin(1, false, "/echo", 0), fcgiRecord(nil, fcgiStdin, 1, nil)...))
	f.Add(fcgiRecord(nil, fcgiGetValues, 0, fcgiPairs("FCGI_MPXS_CONNS", "", "FCGI_MAX_REQS", "")))
	f.Add(append(fcgiBegin(1, true, "/echo", 4), fcgiBegin(2, true, "/echo", 0)...))
	f.Add(fcgiRecord(nil, fcgiAbortRequest, 1, nil))
	f.Add([]byte{1, 1, 0, 1, 0xff, 0xff, 0xff, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		srv, cli := net.Pipe()
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			w.Write(b)
		})
		done := make(chan struct{})
		go func() {
			defer close(done)
			newFCGIConn(srv, h).serve()
		}()
		var written int64
		drained := make(chan struct{})
		go func() { // the web server reading answers
			defer close(drained)
			written, _ = io.Copy(io.Discard, cli)
		}()
		cli.SetWriteDeadline(time.Now().Add(5 * time.Second))
		cli.Write(data)
		cli.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("responder still serving 10 s after the peer closed, input %q", data)
		}
		<-drained
		if limit := int64(len(data))*4 + 64<<10; written > limit {
			t.Fatalf("wrote %d bytes for %d of input", written, len(data))
		}
	})
}
