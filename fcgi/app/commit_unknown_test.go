package app

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/fcgi/config"
)

// cutProxy forwards TCP connections to MariaDB. Armed, it breaks the
// connection that sends the next COMMIT: before passing it on (the server
// rolls the transaction back) or after the server answered it (the
// transaction is committed, the client never hears so) — what MySQL dying
// or the network failing during a COMMIT does.
type cutProxy struct {
	ln     net.Listener
	target string
	armed  atomic.Int32 // 0, cutBefore or cutAfter
	cuts   atomic.Int32
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

const (
	cutBefore = 1
	cutAfter  = 2
)

func startCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *cutProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *cutProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *cutProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, s) {
			c.Close()
			s.Close()
			return
		}
		var swallow atomic.Bool
		p.wg.Add(2)
		go func() { // server → client: drops the answer to a cut COMMIT
			defer p.wg.Done()
			defer c.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 && swallow.Load() {
					s.Close()
					return
				}
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // client → server, one MySQL packet at a time
			defer p.wg.Done()
			defer s.Close()
			hdr := make([]byte, 4)
			for {
				if _, err := io.ReadFull(c, hdr); err != nil {
					return
				}
				n := int(binary.LittleEndian.Uint32(append(hdr[:3:3], 0)))
				pkt := make([]byte, 4+n)
				copy(pkt, hdr)
				if _, err := io.ReadFull(c, pkt[4:]); err != nil {
					return
				}
				if mode := p.armed.Load(); mode != 0 && pkt[4] == 3 && commitsTx(pkt[5:]) &&
					p.armed.CompareAndSwap(mode, 0) {
					p.cuts.Add(1)
					if mode == cutBefore {
						c.Close()
						return
					}
					swallow.Store(true)
				}
				if _, err := s.Write(pkt); err != nil {
					return
				}
			}
		}()
	}
}

// commitsTx reports whether a COM_QUERY text ends a transaction: a COMMIT,
// or the CALL of a procedure that commits inside the server (add_upload,
// add_uploads).
func commitsTx(q []byte) bool {
	s := strings.ToUpper(string(q))
	return s == "COMMIT" || strings.HasPrefix(s, "CALL ADD_UPLOAD(") || strings.HasPrefix(s, "CALL ADD_UPLOADS(")
}

// An upload whose recording transaction breaks during COMMIT: the app
// cannot tell at once whether it committed. Deleting the new DFS file (as
// for any other failure) would leave a committed row without its file when
// the COMMIT did go through; keeping it would leave an orphan when it did
// not. The app looks (commit_unknown.go): committed is a success, rolled
// back is a 503 and the file goes.
func TestUploadCommitOutcomeUnknown(t *testing.T) {
	cfg := testConfig(t, config.UploadInProcess)
	p := startCutProxy(t, mdb.Addr())
	cfg.MySQL.Port = p.port()
	e := newEnv(t, cfg)
	const user = "cu_user"
	tok := e.user(user)

	// Committed, but the answer was lost: acknowledged, listed, and the
	// bytes are there.
	data := randBytes(5000)
	p.armed.Store(cutAfter)
	r := e.uploadMP(user, tok, "after.bin", data)
	require.EqualValues(t, 1, p.cuts.Load(), "the COMMIT was cut")
	require.Contains(t, e.listNames(user, tok), "after.bin")
	d := e.download(user, tok, sum(data), "after.bin")
	require.Equal(t, http.StatusOK, d.status, "the committed upload lost its DFS file: %s", d)
	require.True(t, bytes.Equal(data, d.body))
	expect(t, r, http.StatusOK, CodeUploadOK)

	// Rolled back: refused, not listed, and its DFS file is gone.
	before := dfsFileCount(t)
	data = randBytes(6000)
	p.armed.Store(cutBefore)
	r = e.uploadMP(user, tok, "before.bin", data)
	require.EqualValues(t, 2, p.cuts.Load(), "the COMMIT was cut")
	expect(t, r, http.StatusServiceUnavailable, CodeUploadFail)
	require.NotContains(t, e.listNames(user, tok), "before.bin")
	require.Equal(t, before, dfsFileCount(t), "the rolled-back upload's DFS file must go")
}
