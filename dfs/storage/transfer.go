package storage

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// A minimum transfer rate against slow senders and readers (slowloris,
// docs/protocol.md §12.4). network_timeout alone bounds each read or write, so a
// client trickling a byte every few seconds would hold its connection slot
// forever. min_transfer_rate (conf/transfer.go) bounds the average rate of a
// request body, and of a file sent in a response, once the grace period
// (min_transfer_rate_grace, else network_timeout) is over: below it the
// connection is closed, one line is logged and the close is counted.
//
// The rate is bytes over the time spent waiting for the peer (blocked in a
// read or write), so time the server itself spends (disk writes, waiting
// for an appender file's lock held by another writer) never counts against
// a client. The guard costs no goroutine: each read or write gets as
// deadline the earlier of network_timeout and the moment the average would
// fall below the minimum if no further byte moved.

// errTooSlow is the error of a read or write cut off by the rate guard.
var errTooSlow = errors.New("transfer below min_transfer_rate")

// rateGuard measures one direction of one request.
type rateGuard struct {
	s       *Storage
	c       net.Conn
	src     io.Reader     // what Read reads: c, or a quickack.Reader over it
	dir     string        // "receive" or "send", for the log line
	waited  time.Duration // spent blocked on the peer
	bytes   int64
	rate    int64 // bytes/s; 0 = off
	grace   time.Duration
	timeout time.Duration
}

// newRateGuard measures one request body or one response stream.
func (s *Storage) newRateGuard(c net.Conn, dir string) *rateGuard {
	g := &rateGuard{s: s, c: c, src: c, dir: dir, timeout: s.timeout}
	if s.opts != nil && s.opts.Transfer.MinRate > 0 {
		g.rate = s.opts.Transfer.MinRate
		g.grace = s.opts.Transfer.Grace
		if g.grace <= 0 {
			g.grace = s.timeout
		}
	}
	return g
}

// deadline is the deadline of the next read or write, and whether it is
// the rate guard's (rather than network_timeout's).
func (g *rateGuard) deadline(now time.Time) (time.Time, bool) {
	d := now.Add(g.timeout)
	if g.rate <= 0 {
		return d, false
	}
	// bytes/rate seconds, computed so that large counts cannot overflow.
	q := g.bytes / g.rate
	if q > 1<<30 {
		return d, false // decades of credit
	}
	need := time.Duration(q)*time.Second + time.Duration(g.bytes%g.rate)*time.Second/time.Duration(g.rate)
	rd := now.Add(max(g.grace, need) - g.waited)
	if rd.Before(d) {
		return rd, true
	}
	return d, false
}

// below reports whether the grace is over and the average rate is under
// the minimum.
func (g *rateGuard) below() bool {
	if g.rate <= 0 || g.waited < g.grace {
		return false
	}
	return float64(g.bytes) < float64(g.rate)*g.waited.Seconds()
}

// cut logs and counts a guard-triggered close and returns errTooSlow.
func (g *rateGuard) cut() error {
	el := g.waited
	n := g.s.slowCut.Add(1)
	g.s.log.Warn().Str("peer", g.c.RemoteAddr().String()).Str("dir", g.dir).Int64("bytes", g.bytes).
		Dur("elapsed", el).Int64("min_transfer_rate", g.rate).Int64("slow_closed_total", n).
		Msg("transfer below min_transfer_rate, closing")
	return fmt.Errorf("%s %d bytes in %v: %w", g.dir, g.bytes, el.Round(time.Millisecond), errTooSlow)
}

// Read reads the request body with network_timeout per read and the rate
// guard over the whole body.
func (g *rateGuard) Read(p []byte) (int, error) {
	for {
		if g.below() {
			return 0, g.cut()
		}
		now := time.Now()
		d, guarded := g.deadline(now)
		g.c.SetReadDeadline(d)
		n, err := g.src.Read(p)
		g.waited += time.Since(now)
		g.bytes += int64(n)
		if n == 0 && guarded && isTimeout(err) {
			continue // the guard's deadline: below says whether it is met
		}
		return n, err
	}
}

// sendFile sends n bytes from f's current offset (sendfile(2)) under the
// guard. Bytes sent before a guard deadline count: the send goes on as long
// as the average stays above the minimum.
func (g *rateGuard) sendFile(f *os.File, n int64) (int64, error) {
	var sent int64
	for sent < n {
		k, err := g.writeStep(func() (int64, error) { return io.Copy(g.c, io.LimitReader(f, n-sent)) })
		sent += k
		switch {
		case err == errGuardRetry:
			continue
		case err != nil:
			return sent, err
		case k == 0:
			return sent, nil // end of file: the caller reports the shortfall
		}
	}
	return sent, nil
}

// writeAll writes b under the guard: network_timeout per write,
// min_transfer_rate overall.
func (g *rateGuard) writeAll(b []byte) error {
	for len(b) > 0 {
		k, err := g.writeStep(func() (int64, error) {
			k, err := g.c.Write(b)
			return int64(k), err
		})
		b = b[k:]
		if err != nil && err != errGuardRetry {
			return err
		}
	}
	return nil
}

// errGuardRetry is writeStep's answer when the guard's own deadline cut a
// write short while the rate is still met: write again.
var errGuardRetry = errors.New("rate guard: write again")

// writeStep runs one write under the guard: its deadline, its count of
// bytes and waiting.
func (g *rateGuard) writeStep(write func() (int64, error)) (int64, error) {
	if g.below() {
		return 0, g.cut()
	}
	now := time.Now()
	d, guarded := g.deadline(now)
	g.c.SetWriteDeadline(d)
	k, err := write()
	g.waited += time.Since(now)
	g.bytes += k
	if err != nil && guarded && isTimeout(err) {
		return k, errGuardRetry
	}
	return k, err
}

// isTimeout is true for a deadline error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
