//go:build soak

package soak

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// webFile is one file uploaded through the web path.
type webFile struct{ name, md5 string }

// webRegistry records the web worker's acknowledged uploads and deletes;
// operations without an answer leave the file's state unknown.
type webRegistry struct {
	mu        sync.Mutex
	live      []*webFile
	deleted   []*webFile
	uncertain []*webFile
}

func newWebRegistry() *webRegistry { return &webRegistry{} }

func (r *webRegistry) liveCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

func (r *webRegistry) pick(rnd *rand.Rand, remove bool) *webFile {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.live) == 0 {
		return nil
	}
	i := rnd.IntN(len(r.live))
	f := r.live[i]
	if remove {
		r.live[i] = r.live[len(r.live)-1]
		r.live = r.live[:len(r.live)-1]
	}
	return f
}

func (r *webRegistry) put(f *webFile, into *[]*webFile) {
	r.mu.Lock()
	*into = append(*into, f)
	r.mu.Unlock()
}

type webAcct struct{ user, token string }

// webAccount registers and logs in the soak user (before any kill).
func (s *soak) webAccount(t *testing.T) webAcct {
	t.Helper()
	user := fmt.Sprintf("soak%d", time.Now().UnixNano()%1e9)
	pwd := md5hex([]byte("soak-password"))
	r, err := s.web.post("/reg", map[string]any{"userName": user, "nickName": "nick " + user, "firstPwd": pwd,
		"phone": "13800000000", "email": "soak@example.com"})
	if err != nil || r.code != "002" {
		t.Fatalf("register: %v %v\n%s", err, r, s.web.Logs())
	}
	r, err = s.web.post("/login", map[string]any{"user": user, "pwd": pwd})
	tok, _ := r.obj["token"].(string)
	if err != nil || r.code != "000" || len(tok) != 32 {
		t.Fatalf("login: %v %v", err, r)
	}
	return webAcct{user: user, token: tok}
}

// webError describes an answer that is not the success code.
func webError(r webReply, err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("HTTP %d code %s", r.status, r.code)
}

// webWorker uploads, lists, downloads (compared) and deletes through Nginx.
func (s *soak) webWorker(stop <-chan struct{}, a webAcct, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, seed^0x3eb))
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		p := rnd.Float64()
		if p < 0.4 && s.webReg.liveCount() >= maxLiveWeb {
			p = 0.9 // the working set is full: delete instead
		}
		switch {
		case p < 0.4 || s.webReg.liveCount() < 5:
			data := randomData(rnd, 4<<10, 256<<10)
			f := &webFile{name: fmt.Sprintf("w%d-%d.%s", seed%1000, n, webExt), md5: md5hex(data)}
			s.st.op("web upload")
			r, err := s.web.upload(a.user, a.token, f.name, data)
			if err != nil || r.code != "008" {
				s.st.fail("web upload", webError(r, err))
				s.webReg.put(f, &s.webReg.uncertain)
				break
			}
			s.webReg.put(f, &s.webReg.live)
		case p < 0.6:
			s.st.op("web list")
			r, err := s.web.post("/myfiles?cmd=normal", map[string]any{"user": a.user, "token": a.token, "start": 0, "count": 50})
			if err != nil || r.status != http.StatusOK {
				s.st.fail("web list", webError(r, err))
			}
		case p < 0.8:
			f := s.webReg.pick(rnd, false)
			if f == nil {
				break
			}
			s.st.op("web download")
			q := url.Values{"user": {a.user}, "md5": {f.md5}, "filename": {f.name}}
			r, err := webDo("GET", s.web.URL+"/download?"+q.Encode(), "", nil, "Authorization", "Bearer "+a.token)
			if err != nil || r.status != http.StatusOK {
				s.st.fail("web download", webError(r, err))
				break
			}
			if got := md5hex(r.body); got != f.md5 {
				s.hardFail("web download %s: md5 %s, want %s (%d bytes)", f.name, got, f.md5, len(r.body))
			}
		default:
			f := s.webReg.pick(rnd, true)
			if f == nil {
				break
			}
			s.st.op("web delete")
			r, err := s.web.post("/dealfile?cmd=del", map[string]any{"user": a.user, "token": a.token, "md5": f.md5, "filename": f.name})
			if err != nil || r.code != "013" {
				s.st.fail("web delete", webError(r, err))
				s.webReg.put(f, &s.webReg.uncertain)
				break
			}
			s.webReg.put(f, &s.webReg.deleted)
		}
	}
}
