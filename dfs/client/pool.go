package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"yunpan/dfs/proto"
)

// Pool limits.
const (
	// DefaultMaxIdle is how many idle connections are kept per server address.
	DefaultMaxIdle = 16
	// checkAfter: a connection idle longer than this is probed with
	// ACTIVE_TEST before reuse, since the server may have dropped it.
	checkAfter = 3 * time.Second
)

// pool keeps idle connections per server address. It never holds more than
// maxIdle per address; connections idle longer than maxIdleTime are closed
// by a janitor and skipped by get.
type pool struct {
	connectTimeout time.Duration
	networkTimeout time.Duration
	maxIdle        int
	maxIdleTime    time.Duration
	checkAfter     time.Duration

	mu     sync.Mutex
	idle   map[string][]*conn // LIFO: the warmest connection is last
	closed bool

	stop chan struct{}
	done chan struct{}
}

func newPool(connectTimeout, networkTimeout, maxIdleTime time.Duration, maxIdle int) *pool {
	p := &pool{
		connectTimeout: connectTimeout,
		networkTimeout: networkTimeout,
		maxIdle:        maxIdle,
		maxIdleTime:    maxIdleTime,
		checkAfter:     checkAfter,
		idle:           map[string][]*conn{},
		stop:           make(chan struct{}),
		done:           make(chan struct{}),
	}
	go p.janitor()
	return p
}

// janitor closes expired idle connections so they do not linger on servers.
func (p *pool) janitor() {
	defer close(p.done)
	every := min(max(p.maxIdleTime/2, 10*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.prune(time.Now())
		}
	}
}

func (p *pool) prune(now time.Time) {
	var dead []*conn
	p.mu.Lock()
	for addr, cs := range p.idle {
		keep := cs[:0]
		for _, c := range cs {
			if now.Sub(c.idleAt) > p.maxIdleTime {
				dead = append(dead, c)
			} else {
				keep = append(keep, c)
			}
		}
		clear(cs[len(keep):])
		if len(keep) == 0 {
			delete(p.idle, addr)
		} else {
			p.idle[addr] = keep
		}
	}
	p.mu.Unlock()
	for _, c := range dead {
		_ = c.nc.Close()
	}
}

var errClosed = errors.New("client closed")

// get returns an idle connection to addr that still answers, or dials one.
func (p *pool) get(ctx context.Context, addr string) (*conn, error) {
	for {
		c, err := p.takeIdle(addr)
		if err != nil {
			return nil, err
		}
		if c == nil {
			break
		}
		idle := time.Since(c.idleAt)
		if idle > p.maxIdleTime {
			_ = c.nc.Close()
			continue
		}
		if peerClosed(c.nc) || idle > p.checkAfter && !p.alive(ctx, c) { // stale_linux.go
			_ = c.nc.Close()
			continue
		}
		return c, nil
	}
	return p.dial(ctx, addr)
}

func (p *pool) takeIdle(addr string) (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	cs := p.idle[addr]
	if len(cs) == 0 {
		return nil, nil
	}
	c := cs[len(cs)-1]
	cs[len(cs)-1] = nil
	if len(cs) == 1 {
		delete(p.idle, addr)
	} else {
		p.idle[addr] = cs[:len(cs)-1]
	}
	return c, nil
}

// alive probes a long-idle connection with ACTIVE_TEST.
func (p *pool) alive(ctx context.Context, c *conn) bool {
	unbind := c.bind(ctx)
	defer unbind()
	_, err := c.roundTrip(proto.CmdActiveTest, 0, nil, 0)
	return err == nil && !c.broken
}

func (p *pool) dial(ctx context.Context, addr string) (*conn, error) {
	d := net.Dialer{Timeout: p.connectTimeout}
	var err error
	for _, a := range dialAddrs(addr) {
		var nc net.Conn
		if nc, err = d.DialContext(ctx, "tcp", a); err == nil {
			return &conn{nc: nc, addr: addr, timeout: p.networkTimeout}, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("connect to %s: %w", addr, err)
}

// dialAddrs expands a dual-IP server "ip1,ip2:port" (docs/protocol.md §8.4) into the
// addresses to try in order; a plain "host:port" is returned as is.
func dialAddrs(addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !strings.Contains(host, ",") {
		return []string{addr}
	}
	var out []string
	for _, h := range strings.Split(host, ",") {
		out = append(out, net.JoinHostPort(strings.TrimSpace(h), port))
	}
	return out
}

// put returns c to the pool, or closes it when it is broken, the pool is
// full or closed.
func (p *pool) put(c *conn) {
	if c.broken {
		_ = c.nc.Close()
		return
	}
	c.idleAt = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle[c.addr]) >= p.maxIdle {
		p.mu.Unlock()
		_ = c.nc.Close()
		return
	}
	p.idle[c.addr] = append(p.idle[c.addr], c)
	p.mu.Unlock()
}

// idleCount is the number of idle connections kept for addr.
func (p *pool) idleCount(addr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle[addr])
}

// close says QUIT on every idle connection (so servers drop them without a
// read error) and closes them. Connections in use are closed by put.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	all := p.idle
	p.idle = nil
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	for _, cs := range all {
		for _, c := range cs {
			c.deadline = time.Now().Add(min(c.timeout, time.Second))
			_ = c.request(proto.CmdQuit, 0, nil)
			_ = c.nc.Close()
		}
	}
}
