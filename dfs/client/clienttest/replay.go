// Package clienttest replays captured FastDFS exchanges (internal/vectors/testdata)
// to a client under test: a real tracker listener and a real storage
// listener on 127.0.0.1 that, connection by connection, read each request,
// check it against the capture's `C` packet and answer with its `S` packets.
// Tracker answers that name a storage are rewritten to point at the replay
// storage listener.
package clienttest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"yunpan/dfs/proto"
	"yunpan/internal/vectors"
)

// Role is which listener a captured connection belongs to.
type Role int

const (
	Tracker Role = iota
	Storage
)

// clientCmds are the commands a client tool sends; captured connections
// starting with anything else (storage heartbeats, syncs) are left out.
var clientCmds = map[byte]bool{
	11: true, 12: true, 13: true, 14: true, 15: true, 20: true, 21: true, 22: true,
	23: true, 24: true, 34: true, 36: true, 38: true, 69: true, 70: true, 71: true, 75: true,
	82: true, 90: true, 91: true, 92: true, 93: true, 94: true, 95: true, 96: true, 97: true,
	98: true, 101: true, 102: true, 103: true, 104: true, 105: true, 106: true, 107: true,
	108: true, 111: true, 250: true,
}

// Matcher checks a received request against the captured one. It returns a
// description of the difference, or "" when they match.
type Matcher func(want, got vectors.Packet) string

// Exact requires identical header and body bytes.
func Exact(want, got vectors.Packet) string {
	if want.Header != got.Header {
		return fmt.Sprintf("header %+v, want %+v", got.Header, want.Header)
	}
	if !bytes.Equal(want.Body, got.Body) {
		return fmt.Sprintf("body\n got  %x\n want %x", got.Body, want.Body)
	}
	return ""
}

type script struct {
	idx  int // index in the scenario, for messages
	conn vectors.Conn
}

// Server replays one scenario.
type Server struct {
	match Matcher

	ln      [2]net.Listener
	mu      sync.Mutex
	scripts [2][]script // not yet started, per role
	errs    []string
	accepts [2]int
	conns   map[net.Conn]bool
	closing bool
	wg      sync.WaitGroup
}

// Start serves the client connections of sc (all of them, or those whose
// indexes are given), requiring Exact requests, and stops when the test
// ends, reporting every mismatch and every captured connection the client
// never made.
func Start(t testing.TB, sc *vectors.Scenario, only ...int) *Server {
	t.Helper()
	return StartMatch(t, sc, Exact, only...)
}

// StartMatch is Start with another request matcher.
func StartMatch(t testing.TB, sc *vectors.Scenario, match Matcher, only ...int) *Server {
	t.Helper()
	s := &Server{match: match, conns: map[net.Conn]bool{}}
	for i, c := range sc.Conns {
		if len(only) > 0 && !contains(only, i) {
			continue
		}
		if len(c.Packets) == 0 || !c.Packets[0].FromClient || !clientCmds[c.Packets[0].Header.Cmd] {
			continue
		}
		r := Storage
		if _, port, _ := net.SplitHostPort(c.Server); port == "22122" {
			r = Tracker
		}
		s.scripts[r] = append(s.scripts[r], script{idx: i, conn: c})
	}
	for r := range s.ln {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.ln[r] = ln
		s.wg.Add(1)
		go s.accept(Role(r))
	}
	t.Cleanup(func() {
		s.Close()
		for _, e := range s.Errors() {
			t.Error(e)
		}
	})
	return s
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// TrackerAddr and StorageAddr are the listeners' "127.0.0.1:port".
func (s *Server) TrackerAddr() string { return s.ln[Tracker].Addr().String() }
func (s *Server) StorageAddr() string { return s.ln[Storage].Addr().String() }

// Accepts is how many connections a listener accepted.
func (s *Server) Accepts(r Role) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepts[r]
}

// Remaining is how many captured connections of a role were not replayed.
func (s *Server) Remaining(r Role) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.scripts[r])
}

// Errors lists the mismatches seen so far, plus unreplayed connections
// once the server is closed.
func (s *Server) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

func (s *Server) fail(format string, a ...any) {
	s.mu.Lock()
	s.errs = append(s.errs, fmt.Sprintf(format, a...))
	s.mu.Unlock()
}

// Close stops the listeners and connections and waits for the handlers.
func (s *Server) Close() {
	for _, ln := range s.ln {
		_ = ln.Close()
	}
	// Give requests already on the wire (a QUIT sent by Close) a moment to
	// be read, rather than cutting the connections at once.
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for r, ss := range s.scripts {
		for _, sc := range ss {
			s.errs = append(s.errs, fmt.Sprintf("replay: captured connection %d (%s) was never made",
				sc.idx, [2]string{"tracker", "storage"}[r]))
		}
		s.scripts[r] = nil
	}
}

func (s *Server) accept(r Role) {
	defer s.wg.Done()
	for {
		c, err := s.ln[r].Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.accepts[r]++
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			s.serve(r, c)
		}()
	}
}

func (s *Server) next(r Role) (script, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.scripts[r]) == 0 {
		return script{}, false
	}
	sc := s.scripts[r][0]
	s.scripts[r] = s.scripts[r][1:]
	return sc, true
}

// serve plays scripts on one connection: a pooled client may run several
// captured connections' requests on one socket, one after the other.
func (s *Server) serve(r Role, c net.Conn) {
	var cur *script
	pos := 0
	for {
		s.mu.Lock()
		if !s.closing {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		}
		s.mu.Unlock()
		got, err := readPacket(c)
		if err != nil {
			if cur != nil && pos < len(cur.conn.Packets) {
				s.fail("replay conn %d: client went away after %d of %d packets: %v", cur.idx, pos, len(cur.conn.Packets), err)
			}
			return
		}
		if cur == nil || pos == len(cur.conn.Packets) {
			if got.Header.Cmd == proto.CmdQuit && got.Header.PkgLen == 0 && cur != nil {
				return // a polite close after a finished script
			}
			sc, ok := s.next(r)
			if !ok {
				s.fail("replay: unexpected request %+v body %x: no captured connection left", got.Header, got.Body)
				return
			}
			cur, pos = &sc, 0
		}
		want := cur.conn.Packets[pos]
		if !want.FromClient {
			s.fail("replay conn %d: request while a reply was due", cur.idx)
			return
		}
		if d := s.match(want, got); d != "" {
			s.fail("replay conn %d packet %d (cmd %d): %s", cur.idx, pos, want.Header.Cmd, d)
			return
		}
		pos++
		for pos < len(cur.conn.Packets) && !cur.conn.Packets[pos].FromClient {
			p := cur.conn.Packets[pos]
			body := s.rewrite(want.Header.Cmd, p)
			h := p.Header
			h.PkgLen = int64(len(body))
			b := append(h.Bytes(), body...)
			if _, err := c.Write(b); err != nil {
				s.fail("replay conn %d: write reply: %v", cur.idx, err)
				return
			}
			pos++
		}
		if want.Header.Cmd == proto.CmdQuit {
			return // QUIT gets no reply: the server closes
		}
	}
}

// rewrite points tracker answers naming a storage at our storage listener.
func (s *Server) rewrite(reqCmd byte, p vectors.Packet) []byte {
	if p.Header.Status != 0 {
		return p.Body
	}
	host, portText, _ := net.SplitHostPort(s.StorageAddr())
	port, _ := strconv.ParseInt(portText, 10, 64)
	switch reqCmd {
	case proto.CmdQueryStoreWithoutGroupOne, proto.CmdQueryStoreWithGroupOne,
		proto.CmdQueryStoreWithoutGroupAll, proto.CmdQueryStoreWithGroupAll:
		st, err := proto.DecodeStoreResp(p.Body)
		if err != nil {
			return p.Body
		}
		for i := range st.Storages {
			st.Storages[i] = proto.StorageAddr{IP: host, Port: port}
		}
		return st.Encode(proto.IPv4Size)
	case proto.CmdQueryFetchOne, proto.CmdQueryUpdate, proto.CmdQueryFetchAll:
		f, err := proto.DecodeFetchResp(p.Body)
		if err != nil {
			return p.Body
		}
		for i := range f.Storages {
			f.Storages[i] = proto.StorageAddr{IP: host, Port: port}
		}
		return f.Encode(proto.IPv4Size)
	}
	return p.Body
}

func readPacket(r io.Reader) (vectors.Packet, error) {
	h, err := proto.ReadHeader(r)
	if err != nil {
		return vectors.Packet{}, err
	}
	if h.PkgLen > 16<<20 {
		return vectors.Packet{}, errors.New("request body too large for a replay")
	}
	body := make([]byte, h.PkgLen)
	if _, err := io.ReadFull(r, body); err != nil {
		return vectors.Packet{}, err
	}
	return vectors.Packet{FromClient: true, Header: h, Body: body}, nil
}
