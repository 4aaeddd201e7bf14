package tracker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"yunpan/dfs/proto"
)

// allowList is allow_hosts (§8.2): "*", exact IPs, CIDR blocks and
// FastDFS's last-octet ranges such as 10.0.1.[1-15,20].
type allowList struct {
	all  bool
	ips  map[string]bool
	nets []*net.IPNet
}

func parseAllowHosts(entries []string) (*allowList, error) {
	a := &allowList{ips: map[string]bool{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
		case e == "*":
			a.all = true
		case strings.Contains(e, "/"):
			_, n, err := net.ParseCIDR(e)
			if err != nil {
				return nil, fmt.Errorf("allow_hosts %q: %w", e, err)
			}
			a.nets = append(a.nets, n)
		case strings.HasSuffix(e, "]") && strings.Contains(e, "["):
			ips, err := expandRange(e)
			if err != nil {
				return nil, err
			}
			for _, ip := range ips {
				a.ips[ip] = true
			}
		default:
			ip := net.ParseIP(e)
			if ip == nil {
				return nil, fmt.Errorf("allow_hosts %q: not an IP, CIDR or range", e)
			}
			a.ips[canonIP(ip)] = true
		}
	}
	return a, nil
}

// expandRange expands "a.b.c.[1-15,20]" into its addresses.
func expandRange(e string) ([]string, error) {
	i := strings.IndexByte(e, '[')
	prefix, list := e[:i], e[i+1:len(e)-1]
	if strings.Count(prefix, ".") != 3 || !strings.HasSuffix(prefix, ".") ||
		net.ParseIP(prefix+"0") == nil || net.ParseIP(prefix+"0").To4() == nil {
		return nil, fmt.Errorf("allow_hosts %q: range only on the last IPv4 octet", e)
	}
	var out []string
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 0 || b > 255 || a > b {
			return nil, fmt.Errorf("allow_hosts %q: bad range %q", e, part)
		}
		for n := a; n <= b; n++ {
			out = append(out, prefix+strconv.Itoa(n))
		}
	}
	return out, nil
}

func canonIP(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}

func (a *allowList) allows(ipText string) bool {
	if a.all {
		return true
	}
	ip := net.ParseIP(ipText)
	if ip == nil {
		return false
	}
	if a.ips[canonIP(ip)] {
		return true
	}
	for _, n := range a.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// acceptLoop accepts until the listener closes.
func (t *Tracker) acceptLoop(ln net.Listener) {
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-t.exitCh:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: wait a little rather than spin.
			t.log.Warn().Err(err).Msg("accept")
			select {
			case <-t.exitCh:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		peer := hostIP(c.RemoteAddr())
		if !t.allow.allows(peer) {
			t.log.Warn().Str("peer", peer).Msg("refused by allow_hosts")
			c.Close()
			continue
		}
		if !t.track(c) {
			t.log.Warn().Str("peer", peer).Int("max_connections", t.opts.MaxConnections).Msg("too many connections")
			c.Close()
			continue
		}
		go t.serve(c, peer)
	}
}

// track registers c, or refuses it over max_connections or while exiting.
// A tracked connection's goroutine is counted in t.wg.
func (t *Tracker) track(c net.Conn) bool {
	t.connMu.Lock()
	defer t.connMu.Unlock()
	if t.closing || len(t.conns) >= t.opts.MaxConnections {
		return false
	}
	t.conns[c] = struct{}{}
	t.wg.Add(1)
	return true
}

func (t *Tracker) untrack(c net.Conn) {
	t.connMu.Lock()
	delete(t.conns, c)
	t.connMu.Unlock()
}

// serve runs one connection: read a request, answer, repeat. Every read and
// write has the network_timeout deadline, which also ends idle connections.
func (t *Tracker) serve(c net.Conn, peer string) {
	sess := &session{peerIP: peer, localIP: hostIP(c.LocalAddr())}
	log := t.log.With().Str("peer", c.RemoteAddr().String()).Logger()
	defer func() {
		if v := recover(); v != nil {
			log.Error().Interface("panic", v).Msg("connection handler panicked")
		}
		c.Close()
		t.untrack(c)
		t.connClosed(sess)
		t.wg.Done()
	}()
	var hdr [proto.HeaderSize]byte
	for {
		c.SetReadDeadline(time.Now().Add(t.opts.NetworkTimeout))
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Debug().Err(err).Msg("read header")
			}
			return
		}
		h, err := proto.DecodeHeader(hdr[:])
		if err == nil && h.PkgLen > t.opts.MaxBuffSize {
			err = proto.Errf(proto.StatusEINVAL, "body %d bytes > max_buff_size %d", h.PkgLen, t.opts.MaxBuffSize)
		}
		if err != nil {
			// The stream cannot be resynchronised: answer and close.
			log.Warn().Err(err).Uint8("cmd", h.Cmd).Msg("bad header")
			c.SetWriteDeadline(time.Now().Add(t.opts.NetworkTimeout))
			proto.WriteResponse(c, proto.StatusEINVAL, nil)
			return
		}
		body := make([]byte, h.PkgLen)
		if _, err := io.ReadFull(c, body); err != nil {
			log.Debug().Err(err).Uint8("cmd", h.Cmd).Msg("read body")
			return
		}
		resp, err := t.dispatch(sess, h.Cmd, body)
		if errors.Is(err, errQuit) {
			return
		}
		status := proto.StatusOf(err)
		if err != nil {
			resp = nil
			log.Debug().Err(err).Uint8("cmd", h.Cmd).Uint8("status", status).Msg("request failed")
		}
		c.SetWriteDeadline(time.Now().Add(t.opts.NetworkTimeout))
		if err := proto.WriteResponse(c, status, resp); err != nil {
			log.Debug().Err(err).Msg("write response")
			return
		}
	}
}

// connClosed applies §4.8 rule 10: the storage whose reporting connection
// this was goes OFFLINE, unless it is in a state a connection does not
// decide.
func (t *Tracker) connClosed(sess *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, g := sess.s, sess.g
	if s == nil || s.sess != sess {
		return
	}
	s.sess = nil
	if t.reg.group(g.Name) != g || g.find(s.ID) != s {
		return
	}
	switch s.Status {
	case proto.StatusInit, proto.StatusWaitSync, proto.StatusSyncing, proto.StatusDeleted,
		proto.StatusIPChanged, proto.StatusRecovery, proto.StatusOffline:
		return
	}
	t.reg.setStatus(g, s, proto.StatusOffline)
	t.log.Info().Str("group", g.Name).Str("storage", s.ID).Msg("storage connection closed: OFFLINE")
}
