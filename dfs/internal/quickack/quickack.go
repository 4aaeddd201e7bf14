// Package quickack reads request bodies so that a peer sending a request's
// header and body in separate writes is not held back by its Nagle
// algorithm. On a kept-open connection the server's kernel delays its ACK of
// the header (it expects to piggyback it on the response), and the peer's
// kernel withholds the small body until that ACK arrives: each such request
// waits for the delayed-ACK timer (about 40 ms on Linux). TCP_QUICKACK sends
// the pending ACK at once and leaves the interactive mode that delays it.
//
// Linux re-enters that mode whenever the server answers soon after
// receiving, so the option has to be set again for every request. Setting it
// after every read, as FastDFS does, costs a system call per read; a Reader
// sets it only when a read of the current request would block, which is the
// only moment a withheld body can stall: a request that arrives whole costs
// no extra system call, a split one exactly one.
package quickack

import (
	"io"
	"net"
	"os"
	"syscall"
)

// Reader reads a TCP connection, setting TCP_QUICKACK at most once per
// request (see Next) when a read finds no data waiting. A Reader serves one
// goroutine at a time.
type Reader struct {
	c     net.Conn
	rc    syscall.RawConn // nil: not a socket, plain reads
	armed bool            // the current request has not set TCP_QUICKACK yet
	Sets  int             // how many times TCP_QUICKACK was set, for tests

	// The read in progress, for readFD: kept here and readFD bound once in
	// New, so a Read allocates no closure.
	fn   func(fd uintptr) bool
	p    []byte
	n    int
	rerr error
}

// New wraps c. Connections without a file descriptor are read as they are.
func New(c net.Conn) *Reader {
	r := &Reader{c: c, armed: true}
	r.fn = r.readFD
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			r.rc = rc
		}
	}
	return r
}

// Next starts a new request: its first read that would block sets
// TCP_QUICKACK again.
func (r *Reader) Next() { r.armed = true }

// Idle marks the wait for the next request: a peer sends a request's first
// bytes without waiting for an ACK, so blocking then needs no TCP_QUICKACK.
func (r *Reader) Idle() { r.armed = false }

// Read reads into p, honouring the connection's read deadline.
func (r *Reader) Read(p []byte) (int, error) {
	if r.rc == nil || len(p) == 0 {
		return r.c.Read(p)
	}
	r.p, r.n = p, 0
	err := r.rc.Read(r.fn)
	n, rerr := r.n, r.rerr
	r.p, r.rerr = nil, nil
	switch {
	case err != nil: // deadline, closed connection
		return 0, err
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: r.c.LocalAddr(), Addr: r.c.RemoteAddr(), Err: os.NewSyscallError("read", rerr)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readFD is one attempt of Read on the descriptor: false means no data yet
// (wait in the poller).
func (r *Reader) readFD(fd uintptr) bool {
	for {
		r.n, r.rerr = syscall.Read(int(fd), r.p)
		if r.rerr != syscall.EINTR {
			break
		}
	}
	if r.rerr == syscall.EAGAIN {
		if r.armed {
			r.armed = false
			// An error here only means the ACK goes out later.
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
			r.Sets++
		}
		return false // wait for data (or the deadline) in the poller
	}
	return true
}
