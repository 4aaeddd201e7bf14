package e2e

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"mime/multipart"
	"net/http"
	"path"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/fcgi/app"
	"yunpan/fcgi/config"
	"yunpan/internal/cluster"
)

// Fault: MySQL restarted under load, through the real
// stack (Nginx → FastCGI programs → MariaDB, Redis, DFS). Four users keep
// uploading, listing, asking for download URLs (and fetching them) and
// logging in while MariaDB is stopped with SIGTERM, started again on the
// same port and data dir, then killed with SIGKILL and started again.
//
// Asserted:
//   - during an outage every request fails fast (well within the request
//     deadline) with 503 and the endpoint's own failure code (009, 015,
//     026, 001) — never a hang, a 502 from Nginx, or a 111 telling the
//     user to log in again;
//   - after each restart every endpoint works again within a bounded time
//     without restarting anything else (database/sql reconnects), and no
//     FastCGI program or Nginx died;
//   - no acknowledged upload is lost: each 008 is listed and downloadable;
//   - DB and DFS agree once the dfs_gc queue has been worked off: every
//     file_info row has its DFS file, every DFS file has its row, and the
//     reference counts match the users' lists.
func TestMySQLRestartUnderLoad(t *testing.T) {
	needStack(t)
	// Not parallel: it judges every answer around the outages, and beside
	// other stacks one came back as a connection closed by the peer.
	// Private MariaDB, Redis and DFS: this test stops its database, and the
	// DFS must hold only this stack's files for the orphan check.
	in := &shared{db: cluster.StartMariaDB(t), redis: cluster.StartRedis(t), dfs: cluster.StartDFS(t)}
	s := StartStack(t, Options{infra: in})
	w := newWeb(t, s)
	logsOnFailure(t, s)
	pids := map[string]int{}
	for name, p := range s.fcgi {
		pids[name] = p.cmd.Process.Pid
	}

	l := &mrLoad{url: s.URL, stop: make(chan struct{})}
	for i := range 4 {
		u := w.login(w.register(fmt.Sprintf("restart%d_%d", i, time.Now().UnixNano()%1e6), fmt.Sprintf("pw-%d", i)))
		l.users = append(l.users, &mrUser{name: u.name, pwd: u.pwd, token: u.token})
	}
	var wg sync.WaitGroup
	for i, u := range l.users {
		wg.Add(1)
		go func() { defer wg.Done(); l.worker(i, u) }()
	}
	stopLoad := sync.OnceFunc(func() { close(l.stop); wg.Wait() })
	defer stopLoad()

	const recoveryBound = 20 * time.Second
	var windows []mrWindow
	since := time.Now()
	for _, ph := range []struct {
		name string
		down func()
	}{{"SIGTERM", in.db.Stop}, {"SIGKILL", in.db.Kill}} {
		l.waitAll(t, 60*time.Second, "every endpoint works before "+ph.name, func(ep string) bool { return l.count(ep, since, true) >= 2 })
		down := time.Now()
		ph.down()
		l.waitAll(t, 60*time.Second, "every endpoint fails while MySQL is down ("+ph.name+")", func(ep string) bool { return l.count(ep, down, false) >= 2 })
		in.db.Restart(t) // same port, same data dir
		up := time.Now()
		l.waitAll(t, recoveryBound, "every endpoint works again after the restart ("+ph.name+")", func(ep string) bool { return l.count(ep, up, true) >= 1 })
		win := mrWindow{name: ph.name, down: down, up: up, recovered: time.Now()}
		for _, ep := range mrEndpoints {
			t.Logf("%s: %-8s back %v after MySQL accepted connections again", ph.name, ep, l.first(ep, up).Sub(up).Round(time.Millisecond))
		}
		windows = append(windows, win)
		since = win.recovered
	}
	l.waitAll(t, 60*time.Second, "steady load after the restarts", func(ep string) bool { return l.count(ep, since, true) >= 3 })
	stopLoad()

	// Every request: success, or inside an outage a fast 503 with the
	// endpoint's failure code.
	l.mu.Lock()
	hits := l.hits
	l.mu.Unlock()
	var bad []string
	perPhase := map[string][2]int{}
	var slowestFail time.Duration
	for _, h := range hits {
		if h.end.Sub(h.start) > 30*time.Second {
			bad = append(bad, "too slow: "+h.String())
		}
		var win *mrWindow
		for i := range windows {
			if !h.end.Before(windows[i].down) && !h.start.After(windows[i].recovered) {
				win = &windows[i]
			}
		}
		if win != nil {
			c := perPhase[win.name]
			if h.ok {
				c[0]++
			} else {
				c[1]++
			}
			perPhase[win.name] = c
		}
		if h.ok {
			continue
		}
		slowestFail = max(slowestFail, h.end.Sub(h.start))
		switch {
		case win == nil:
			bad = append(bad, "failed outside an outage: "+h.String())
		case h.err != nil || h.status != http.StatusServiceUnavailable || h.code != mrFailCode[h.ep]:
			bad = append(bad, fmt.Sprintf("wrong failure during the %s outage (want 503 code %s): %s", win.name, mrFailCode[h.ep], h))
		case h.end.Sub(h.start) > 10*time.Second:
			bad = append(bad, "slow failure: "+h.String())
		}
	}
	t.Logf("%d requests; around the outages (ok, failed): %v; slowest failure %v", len(hits), perPhase, slowestFail.Round(time.Millisecond))
	require.Empty(t, bad, "%d bad requests", len(bad))

	// Nothing but MariaDB was restarted.
	for name, p := range s.fcgi {
		require.False(t, p.exited(), "%s exited:\n%s", name, p.output())
		require.Equal(t, pids[name], p.cmd.Process.Pid)
	}
	require.False(t, s.nginx.exited(), "nginx exited:\n%s", s.NginxErrors())

	// No acknowledged upload is lost.
	acked := 0
	for _, u := range l.users {
		acked += len(u.acked)
		a := account{name: u.name, pwd: u.pwd, token: u.token}
		r := w.myFiles(a, "normal", 0, 1000)
		w.check(r, "000", "list of %s", u.name)
		for _, f := range u.acked {
			require.NotNil(t, find(r.files(), f.name), "acknowledged upload %s of %s is not listed", f.name, u.name)
			r := w.expect("025", "/download", a.body("md5", f.md5, "filename", f.name))
			got, err := mrGet(r.str("url"))
			require.NoError(t, err, "%s of %s", f.name, u.name)
			require.True(t, bytes.Equal(f.data, got), "%s of %s: wrong bytes", f.name, u.name)
		}
	}
	require.NotZero(t, acked)

	// DB and DFS agree once the queued deletes are done: run the app's
	// collector now instead of waiting for the upload program's minute.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, err := config.Load(s.Cfg)
	require.NoError(t, err)
	a, err := app.New(ctx, cfg, app.Options{Log: zerolog.Nop()})
	require.NoError(t, err)
	defer a.Close()
	db := a.Store().DB()
	var queued int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM dfs_gc").Scan(&queued))
	_, err = db.ExecContext(ctx, "UPDATE dfs_gc SET next_try = 0")
	require.NoError(t, err)
	_, err = a.GCPass(ctx)
	require.NoError(t, err)
	var left int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM dfs_gc").Scan(&left))
	require.Zero(t, left, "dfs_gc rows left after a collector pass")

	rows := mrStrings(t, db, "SELECT file_id FROM file_info")
	var inDB []string
	for _, id := range rows {
		inDB = append(inDB, strings.TrimPrefix(id, "group1/M00/"))
	}
	onDisk, err := in.dfs.Files()
	require.NoError(t, err)
	disk := map[string]bool{}
	for _, f := range onDisk {
		disk[f] = true
	}
	for _, f := range inDB {
		require.True(t, disk[f], "file_info row without its DFS file: %s", f)
		delete(disk, f)
	}
	// A DFS file without a row is allowed only for an upload whose COMMIT
	// got no answer while MySQL stayed away: the upload program says so
	// and leaves it to the reconciliation (fcgi/reconcile).
	uploadLog := s.fcgi["upload"].output()
	for f := range disk {
		require.Regexp(t, `"file_id":"group1/M00/`+regexp.QuoteMeta(f)+`".*kept for the reconciliation`, uploadLog,
			"DFS file without a file_info row: %s", f)
	}
	t.Logf("%d DFS files left to the reconciliation; %d uploads failed after storing their file (rolled back and deleted)",
		len(disk), strings.Count(uploadLog, `"error":"service unavailable: add upload`))
	// Reference counts match the lists.
	mism := mrStrings(t, db, `SELECT f.md5 FROM file_info f LEFT JOIN user_file_list u ON u.md5 = f.md5
		GROUP BY f.md5, f.count HAVING COUNT(u.id) <> f.count`)
	require.Empty(t, mism, "file_info.count differs from the user lists")
	orphans := mrStrings(t, db, "SELECT u.md5 FROM user_file_list u LEFT JOIN file_info f ON f.md5 = u.md5 WHERE f.md5 IS NULL")
	require.Empty(t, orphans, "user entries without content")
	t.Logf("%d acknowledged uploads listed and downloadable; %d files in DB and DFS; %d deletes were queued", acked, len(inDB), queued)
}

var mrEndpoints = []string{"upload", "myfiles", "download", "login"}

// mrFailCode is each endpoint's failure code (docs/api.md §1.1).
var mrFailCode = map[string]string{"upload": "009", "myfiles": "015", "download": "026", "login": "001"}

type mrWindow struct {
	name                string
	down, up, recovered time.Time
}

type mrFile struct {
	name, md5 string
	data      []byte
}

type mrUser struct {
	name, pwd, token string
	acked            []mrFile // owned by the user's worker until the load stops
}

// mrHit is one request of the load.
type mrHit struct {
	ep         string
	start, end time.Time
	status     int
	code       string
	err        error
	ok         bool
}

func (h mrHit) String() string {
	return fmt.Sprintf("%s at %s: HTTP %d code %q err %v (%v)", h.ep, h.start.Format("15:04:05.000"), h.status, h.code, h.err,
		h.end.Sub(h.start).Round(time.Millisecond))
}

type mrLoad struct {
	url   string
	users []*mrUser
	stop  chan struct{}
	mu    sync.Mutex
	hits  []mrHit
}

var mrClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8}}

// do sends one request and decodes the JSON answer's code.
func (l *mrLoad) do(ep, method, uri, ctype string, body []byte) (mrHit, map[string]any) {
	h := mrHit{ep: ep, start: time.Now()}
	var obj map[string]any
	req, err := http.NewRequest(method, l.url+uri, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", ctype)
		// An upload refused before its body is read (MySQL away: 503 at
		// once) leaves Nginx a connection it cannot keep, and whether its
		// answer says "Connection: close" depends on timing: the worker's
		// next call could go out on a socket Nginx is closing (a list
		// failed with EOF that way). Each upload has its own connection.
		req.Close = ep == "upload"
		var resp *http.Response
		if resp, err = mrClient.Do(req); err == nil {
			var b []byte
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			h.status = resp.StatusCode
			if json.Unmarshal(b, &obj) == nil {
				h.code, _ = obj["code"].(string)
			} else if err == nil {
				err = fmt.Errorf("not JSON: %.200q", b)
			}
		}
	}
	h.err, h.end = err, time.Now()
	return h, obj
}

func (l *mrLoad) record(h mrHit) {
	l.mu.Lock()
	l.hits = append(l.hits, h)
	l.mu.Unlock()
}

func (l *mrLoad) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func mrJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// worker runs upload, list, download URL (+ fetch) and login in turn.
func (l *mrLoad) worker(id int, u *mrUser) {
	rnd := mrand.New(mrand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	for n := 0; !l.stopped(); n++ {
		// Upload a new file.
		data := make([]byte, 512+rnd.IntN(16<<10))
		crand.Read(data)
		name := fmt.Sprintf("w%d-%05d.bin", id, n)
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("user", u.name)
		mw.WriteField("token", u.token)
		fw, _ := mw.CreateFormFile("file", name)
		fw.Write(data)
		mw.Close()
		h, _ := l.do("upload", "POST", "/upload", mw.FormDataContentType(), buf.Bytes())
		h.ok = h.err == nil && h.status == 200 && h.code == "008"
		l.record(h)
		if h.ok {
			u.acked = append(u.acked, mrFile{name: name, md5: md5hex(data), data: data})
		}

		// List (a page past the end is 015 with HTTP 200).
		h, _ = l.do("myfiles", "POST", "/myfiles?cmd=normal", "application/json",
			mrJSON(map[string]any{"user": u.name, "token": u.token, "start": rnd.IntN(max(len(u.acked), 1)), "count": 10}))
		h.ok = h.err == nil && h.status == 200 && (h.code == "000" || h.code == "015")
		l.record(h)

		// Download URL of an acknowledged file, and the bytes behind it.
		if len(u.acked) > 0 {
			f := u.acked[rnd.IntN(len(u.acked))]
			h, obj := l.do("download", "POST", "/download", "application/json",
				mrJSON(map[string]any{"user": u.name, "token": u.token, "md5": f.md5, "filename": f.name}))
			h.ok = h.err == nil && h.status == 200 && h.code == "025"
			if h.ok {
				url, _ := obj["url"].(string)
				got, err := mrGet(url)
				if err == nil && !bytes.Equal(got, f.data) {
					err = errors.New("wrong bytes")
				}
				if err != nil {
					h.ok, h.err = false, fmt.Errorf("fetch %s: %w", path.Base(url), err)
				}
			}
			l.record(h)
		}

		// Log in again (a new token each time).
		h, obj := l.do("login", "POST", "/login", "application/json", mrJSON(map[string]any{"user": u.name, "pwd": u.pwd}))
		h.ok = h.err == nil && h.status == 200 && h.code == "000"
		if tok, _ := obj["token"].(string); h.ok && len(tok) == 32 {
			u.token = tok
		}
		l.record(h)

		select {
		case <-l.stop:
		case <-time.After(time.Duration(10+rnd.IntN(20)) * time.Millisecond):
		}
	}
}

func mrGet(url string) ([]byte, error) {
	resp, err := mrClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return b, err
}

// count is how many requests to ep that started at or after t succeeded
// (ok) or failed (!ok).
func (l *mrLoad) count(ep string, t time.Time, ok bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, h := range l.hits {
		if h.ep == ep && h.ok == ok && !h.start.Before(t) {
			n++
		}
	}
	return n
}

// first is when the first request to ep started at or after t succeeded.
func (l *mrLoad) first(ep string, t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var at time.Time
	for _, h := range l.hits {
		if h.ep == ep && h.ok && !h.start.Before(t) && (at.IsZero() || h.end.Before(at)) {
			at = h.end
		}
	}
	return at
}

// waitAll polls until cond holds for every endpoint.
func (l *mrLoad) waitAll(t *testing.T, d time.Duration, what string, cond func(ep string) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var missing []string
		for _, ep := range mrEndpoints {
			if !cond(ep) {
				missing = append(missing, ep)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			l.mu.Lock()
			var last []string
			for i := max(len(l.hits)-12, 0); i < len(l.hits); i++ {
				last = append(last, l.hits[i].String())
			}
			l.mu.Unlock()
			t.Fatalf("%s: not within %v for %v; last requests:\n%s", what, d, missing, strings.Join(last, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mrStrings(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}
