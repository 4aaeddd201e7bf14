package tracker

import (
	"bufio"
	"errors"
	"io"
	"net"
	"time"

	"yunpan/dfs/internal/quickack"
	"yunpan/dfs/proto"
)

// canonIP is the text form storage IDs and tracker addresses use.
func canonIP(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}

// requestBuf is a connection's read buffer: it holds any request but a
// storage's larger reports (those are read past it).
const requestBuf = 512

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
		if !t.allow.Allows(peer) {
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
	t.connAccepted()
	var hdr [proto.HeaderSize]byte
	qa := quickack.New(c) // a body sent apart from its header is not held back (package quickack)
	// A request's header and body usually arrive together: one read takes
	// both. Bodies larger than the buffer are read straight into place.
	in := bufio.NewReaderSize(qa, requestBuf)
	var out []byte // the answer being written, reused by the next
	// The clients' queries (101–107) keep nothing of their bodies: they are
	// read into one buffer of the connection instead of a new one each.
	query := make([]byte, requestBuf)
	for {
		c.SetReadDeadline(time.Now().Add(t.opts.NetworkTimeout))
		qa.Idle()
		if _, err := io.ReadFull(in, hdr[:]); err != nil {
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
		var body []byte
		if h.Cmd >= proto.CmdQueryStoreWithoutGroupOne && h.Cmd <= proto.CmdQueryStoreWithGroupAll && h.PkgLen <= requestBuf {
			body = query[:h.PkgLen]
		} else {
			body = make([]byte, h.PkgLen)
		}
		qa.Next()
		if _, err := io.ReadFull(in, body); err != nil {
			log.Debug().Err(err).Uint8("cmd", h.Cmd).Msg("read body")
			return
		}
		resp, err := t.dispatch(sess, h.Cmd, body)
		if errors.Is(err, errQuit) {
			return
		}
		status := proto.StatusOf(err)
		t.observeRequest(h.Cmd, status)
		if err != nil {
			resp = nil
			log.Debug().Err(err).Uint8("cmd", h.Cmd).Uint8("status", status).Msg("request failed")
		}
		c.SetWriteDeadline(time.Now().Add(t.opts.NetworkTimeout))
		out = proto.AppendPacket(out[:0], proto.CmdResp, status, resp)
		if _, err := c.Write(out); err != nil {
			log.Debug().Err(err).Msg("write response")
			return
		}
		if cap(out) > requestBuf<<4 {
			out = nil // a large answer (a storage list) is not kept
		}
		if err != nil && isClosing(err) {
			return // refused by the cluster secret check (clusterauth.go)
		}
	}
}

// isClosing reports whether err asks for the connection to be closed.
func isClosing(err error) bool {
	var ce closingError
	return errors.As(err, &ce)
}

// connClosed applies §4.8 rule 10: the storage whose reporting connection
// this was goes OFFLINE, unless it is in a state a connection does not
// decide.
func (t *Tracker) connClosed(sess *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.releaseSysLockLocked(sess)
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
