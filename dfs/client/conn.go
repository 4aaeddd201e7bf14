package client

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"yunpan/dfs/proto"
)

// conn is one pooled TCP connection to a tracker or storage. Every Read and
// Write re-arms the socket deadline: the caller's context deadline when it
// has one, else now + network_timeout, so a silent peer can never hang us.
type conn struct {
	nc      net.Conn
	addr    string
	timeout time.Duration // network_timeout

	deadline time.Time // context deadline of the current call, zero if none
	broken   bool      // saw an I/O error or a reply that leaves it unusable
	idleAt   time.Time // when it went back to the pool

	// mu orders arm against a context cancellation, so a cancel can never
	// be undone by the next I/O re-arming a fresh deadline.
	mu        sync.Mutex
	cancelled bool
	// armedR/armedW are the deadlines last set on the socket: setting one
	// costs a clock read and a timer update, so an unchanged deadline (the
	// call's context deadline) is not set again on every Read and Write.
	armedR, armedW time.Time
}

// past is a deadline that has already expired.
var past = time.Unix(1, 0)

func (c *conn) arm(read bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.deadline
	switch {
	case c.cancelled:
		d = past
	case d.IsZero():
		d = time.Now().Add(c.timeout)
	}
	last := &c.armedW
	if read {
		last = &c.armedR
	}
	if d.Equal(*last) {
		return
	}
	// An idle timeout (no context deadline) only needs to move forward now
	// and then: re-arming within an eighth of it changes nothing useful.
	if c.deadline.IsZero() && !c.cancelled && !last.IsZero() && d.Sub(*last) < c.timeout/8 {
		return
	}
	*last = d
	if read {
		_ = c.nc.SetReadDeadline(d)
	} else {
		_ = c.nc.SetWriteDeadline(d)
	}
}

func (c *conn) Read(p []byte) (int, error) {
	c.arm(true)
	n, err := c.nc.Read(p)
	if err != nil {
		c.broken = true
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	c.arm(false)
	n, err := c.nc.Write(p)
	if err != nil {
		c.broken = true
	}
	return n, err
}

// bind ties the connection to ctx for one call: its deadline bounds every
// I/O, and cancelling ctx aborts a blocked read or write at once. The
// returned func must be called when the call is over.
func (c *conn) bind(ctx context.Context) (unbind func()) {
	c.deadline, _ = ctx.Deadline()
	if ctx.Done() == nil {
		return func() { c.deadline = time.Time{} }
	}
	stop := context.AfterFunc(ctx, func() {
		// a deadline in the past wakes any blocked Read/Write
		c.mu.Lock()
		c.cancelled = true
		c.armedR, c.armedW = past, past
		_ = c.nc.SetDeadline(past)
		c.mu.Unlock()
	})
	return func() {
		if !stop() && ctx.Err() != nil {
			// the AfterFunc ran (or is running): the socket is poisoned
			c.broken = true
		}
		c.deadline = time.Time{}
	}
}

// request writes one header+body packet in a single write.
func (c *conn) request(cmd, status byte, body []byte) error {
	if err := proto.WritePacket(c, cmd, status, body); err != nil {
		return fmt.Errorf("send cmd %d to %s: %w", cmd, c.addr, err)
	}
	return nil
}

// header reads a response header. A non-zero status comes back as a
// StatusError; the connection is kept only when that reply was clean
// (no body) and not EINVAL, after which the storage closes the socket (§1.5).
func (c *conn) header() (proto.Header, error) {
	h, err := proto.ReadHeader(c)
	if err != nil {
		c.broken = true
		return h, fmt.Errorf("recv header from %s: %w", c.addr, err)
	}
	if h.Cmd != proto.CmdResp {
		c.broken = true
		return h, proto.Errf(proto.StatusEINVAL, "recv header from %s: cmd %d, want %d", c.addr, h.Cmd, proto.CmdResp)
	}
	if h.Status != 0 {
		if h.Status == proto.StatusEINVAL || h.PkgLen != 0 {
			c.broken = true
		}
		return h, fmt.Errorf("%s: %w", c.addr, proto.StatusError(h.Status))
	}
	return h, nil
}

// response reads a whole response whose body may be at most max bytes.
func (c *conn) response(max int64) ([]byte, error) {
	h, err := c.header()
	if err != nil {
		return nil, err
	}
	if h.PkgLen > max {
		c.broken = true
		return nil, proto.Errf(proto.StatusEINVAL, "response from %s: body %d bytes, limit %d", c.addr, h.PkgLen, max)
	}
	body := make([]byte, h.PkgLen)
	if _, err := io.ReadFull(c, body); err != nil {
		c.broken = true
		return nil, fmt.Errorf("recv body from %s: %w", c.addr, err)
	}
	return body, nil
}

// roundTrip sends a request and reads its whole response.
func (c *conn) roundTrip(cmd, status byte, body []byte, max int64) ([]byte, error) {
	if err := c.request(cmd, status, body); err != nil {
		return nil, err
	}
	return c.response(max)
}
