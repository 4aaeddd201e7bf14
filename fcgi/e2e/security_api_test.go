package e2e

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"yunpan/internal/cluster"

	"github.com/chromedp/chromedp"
	"github.com/gomodule/redigo/redis"
	"github.com/stretchr/testify/require"
)

// The API's answers to attacks and faults, through Nginx, spawn-fcgi and the
// real MariaDB, Redis and DFS: one test per weakness (the numbering of the
// project's security work).

func suffix() string { return fmt.Sprint(time.Now().UnixNano() % 1e7) }

// challenge is a /md5 proof-of-possession challenge as answered.
type challenge struct {
	Nonce     string     `json:"nonce"`
	Ranges    [][2]int64 `json:"ranges"`
	ExpiresIn int        `json:"expires_in"`
}

func challengeOf(t testing.TB, r reply) challenge {
	t.Helper()
	raw, ok := r.obj["challenge"]
	require.True(t, ok, "no challenge: %s", r)
	b, _ := json.Marshal(raw)
	var c challenge
	require.NoError(t, json.Unmarshal(b, &c))
	return c
}

// proofFor answers c with data: md5 hex of the nonce and the ranges' bytes.
func proofFor(c challenge, data []byte) string {
	h := md5.New()
	h.Write([]byte(c.Nonce))
	for _, rg := range c.Ranges {
		off, n := rg[0], rg[1]
		if off < int64(len(data)) {
			h.Write(data[off:min(off+n, int64(len(data)))])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// instantUpload is the whole instant upload of a client that holds data:
// ask with the size, answer the challenge.
func (w *web) instantUpload(a account, name string, data []byte) reply {
	w.t.Helper()
	sum := md5hex(data)
	r := w.expect("007", "/md5", a.body("md5", sum, "fileName", name, "size", len(data)))
	c := challengeOf(w.t, r)
	return w.post("/md5", a.body("md5", sum, "fileName", name, "size", len(data), "nonce", c.Nonce, "proof", proofFor(c, data)))
}

// Point 1: the course's clients read the body only when the HTTP status is
// 200. Every refusal must come as HTTP 200 with its code; list items carry
// both spellings of the name and time; the token comes from the body, the
// bearer header or the cookie alike.
func TestSecurityCourseClientStatuses(t *testing.T) {
	t.Parallel() // its own stack: runs beside the other such tests
	s := StartStack(t, Options{})
	w := newWeb(t, s)
	sfx := suffix()
	alice := w.login(w.register("st_alice"+sfx, "alice-pw"))
	bob := w.login(w.register("st_bob"+sfx, "bob-pw"))

	// A wrong password: the client must see 001 to say so.
	r := w.post("/login", map[string]any{"user": alice.name, "pwd": md5hex([]byte("wrong"))})
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, "001", r.code(), "%s", r)
	require.Equal(t, "fail", r.str("token"), "%s", r)

	// An expired token: 111 (the client's "log in again") on every call.
	data := []byte("course client statuses " + sfx)
	sum := md5hex(data)
	bad := strings.Repeat("0", 32)
	for _, path := range []string{"/myfiles?cmd=count", "/myfiles?cmd=normal", "/md5", "/dealfile?cmd=share", "/dealfile?cmd=pv",
		"/dealfile?cmd=del", "/dealsharefile?cmd=pv", "/dealsharefile?cmd=save", "/dealsharefile?cmd=cancel", "/logout"} {
		r := w.post(path, map[string]any{"user": alice.name, "token": bad, "md5": sum, "filename": "a.txt", "fileName": "a.txt", "start": 0, "count": 10})
		require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r)
		require.Equal(t, "111", r.code(), "%s: %s", path, r)
	}
	r = w.upload(account{name: alice.name, token: bad}, "a.txt", data)
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, "111", r.code(), "%s", r)

	// A failed upload: 009, so that the client's queue moves on.
	for _, body := range []string{"garbage", "\r\n\r\n"} {
		r = w.do("POST", "/upload", "application/json", strings.NewReader(body))
		require.Equal(t, http.StatusOK, r.status, "%s", r)
		require.Equal(t, "009", r.code(), "%s", r)
	}

	// Success and the other refusals of the file calls.
	w.check(w.upload(alice, "a.txt", data), "008", "upload")
	w.expect("010", "/dealfile?cmd=share", alice.body("md5", sum, "filename", "a.txt"))
	r = w.post("/dealfile?cmd=share", alice.body("md5", sum, "filename", "a.txt"))
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, "012", r.code(), "%s", r)
	r = w.post("/dealsharefile?cmd=save", alice.body("md5", sum, "filename", "a.txt"))
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, "021", r.code(), "%s", r)
	r = w.post("/dealsharefile?cmd=cancel", bob.body("md5", sum, "filename", "a.txt"))
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, "019", r.code(), "%s", r)
	r = w.post("/dealfile?cmd=del", bob.body("md5", sum, "filename", "a.txt"))
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, "014", r.code(), "%s", r)
	r = w.post("/reg", map[string]any{"userName": alice.name, "nickName": "other" + sfx, "firstPwd": alice.pwd})
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, "003", r.code(), "%s", r)

	// Older clients read filename and time, newer ones file_name and
	// create_time.
	for _, l := range []reply{w.myFiles(alice, "normal", 0, 10), w.post("/sharefiles?cmd=normal", map[string]any{"start": 0, "count": 10})} {
		f := find(l.files(), "a.txt")
		require.NotNil(t, f, "%s", l)
		require.Equal(t, "a.txt", f["filename"], "%s", l)
		require.Equal(t, "a.txt", f["file_name"], "%s", l)
		require.NotEmpty(t, f["create_time"], "%s", l)
		require.Equal(t, f["create_time"], f["time"], "%s", l)
	}

	// The token from the bearer header or the cookie, on every call that
	// needs one (the upload included).
	for _, hdr := range [][]string{{"Authorization", "Bearer " + alice.token}, {"Cookie", "token=" + alice.token}} {
		r = w.do("POST", "/myfiles?cmd=count", "application/json", strings.NewReader(`{"user":"`+alice.name+`"}`), hdr...)
		w.check(r, "110", "count with %s", hdr[0])
		r = w.do("POST", "/dealfile?cmd=pv", "application/json", strings.NewReader(`{"md5":"`+sum+`","filename":"a.txt"}`), hdr...)
		w.check(r, "016", "pv with %s", hdr[0])
		r = w.do("POST", "/md5", "application/json", strings.NewReader(`{"md5":"`+sum+`","fileName":"a.txt"}`), hdr...)
		w.check(r, "005", "md5 with %s", hdr[0])
		up := []byte("with " + hdr[0] + sfx)
		var b strings.Builder
		fmt.Fprintf(&b, "------b\r\nContent-Disposition: form-data; user=\"%s\" filename=\"h.txt\" md5=\"%s\" size=%d\r\n", alice.name, md5hex(up), len(up))
		fmt.Fprintf(&b, "Content-Type: application/octet-stream\r\n\r\n%s\r\n------b", up)
		w.check(w.do("POST", "/upload", "application/json", strings.NewReader(b.String()), hdr...), "008", "upload with %s", hdr[0])
		w.expect("013", "/dealfile?cmd=del", alice.body("md5", md5hex(up), "filename", "h.txt"))
	}

	// New clients may ask for fitting statuses (http_status_codes).
	s2 := StartStack(t, Options{Cfg: map[string]any{"http_status_codes": true}})
	w2 := newWeb(t, s2)
	carol := w2.register("st_carol"+sfx, "carol-pw")
	r = w2.post("/login", map[string]any{"user": carol.name, "pwd": md5hex([]byte("wrong"))})
	require.Equal(t, http.StatusUnauthorized, r.status, "%s", r)
	require.Equal(t, "001", r.code(), "%s", r)
	r = w2.post("/myfiles?cmd=count", map[string]any{"user": carol.name, "token": bad})
	require.Equal(t, http.StatusUnauthorized, r.status, "%s", r)
	require.Equal(t, "111", r.code(), "%s", r)
}

// Point 4: naming an md5 links nothing; the holder of the bytes proves it
// by answering a challenge, and the answers do not tell whether anyone
// holds the content.
func TestSecurityInstantUploadProof(t *testing.T) {
	t.Parallel() // its own stack: runs beside the other such tests
	s := StartStack(t, Options{})
	w := newWeb(t, s)
	sfx := suffix()
	alice := w.login(w.register("pp_alice"+sfx, "alice-pw"))
	bob := w.login(w.register("pp_bob"+sfx, "bob-pw"))
	secret := make([]byte, 300<<10+5)
	rand.Read(secret)
	sum := md5hex(secret)
	w.check(w.upload(alice, "secret.bin", secret), "008", "upload")

	// The course's request: naming the md5 is not enough.
	r := w.expect("007", "/md5", bob.body("md5", sum, "fileName", "stolen.bin"))
	require.NotContains(t, r.obj, "challenge", "%s", r)
	require.Nil(t, find(w.myFiles(bob, "normal", 0, 10).files(), "stolen.bin"), "linked on an md5 alone")

	// With the size, a challenge, whether the content is known or not: the
	// same fields, the same number of ranges, all inside the claimed size.
	other := make([]byte, len(secret))
	rand.Read(other)
	known := challengeOf(t, w.expect("007", "/md5", bob.body("md5", sum, "fileName", "stolen.bin", "size", len(secret))))
	unknownR := w.expect("007", "/md5", bob.body("md5", md5hex(other), "fileName", "other.bin", "size", len(other)))
	unknown := challengeOf(t, unknownR)
	require.Regexp(t, `^[0-9a-f]{32}$`, known.Nonce)
	require.Regexp(t, `^[0-9a-f]{32}$`, unknown.Nonce)
	require.Len(t, known.Ranges, 8)
	require.Len(t, unknown.Ranges, len(known.Ranges))
	require.Equal(t, known.ExpiresIn, unknown.ExpiresIn)
	for _, rg := range append(known.Ranges, unknown.Ranges...) {
		require.True(t, rg[0] >= 0 && rg[1] > 0 && rg[0]+rg[1] <= int64(len(secret)), "range %v", rg)
	}

	// Guessing: a wrong proof, an empty one, the proof for other bytes.
	for i, proof := range []string{strings.Repeat("0", 32), "", proofFor(known, other)} {
		c := known
		if i > 0 {
			c = challengeOf(t, w.expect("007", "/md5", bob.body("md5", sum, "fileName", "stolen.bin", "size", len(secret))))
		}
		r = w.expect("007", "/md5", bob.body("md5", sum, "fileName", "stolen.bin", "size", len(secret), "nonce", c.Nonce, "proof", proof))
		require.Equal(t, "not linked: upload the file", r.str("msg"), "%s", r)
	}
	// The answer for unknown content reads the same.
	r2 := w.expect("007", "/md5", bob.body("md5", md5hex(other), "fileName", "other.bin", "size", len(other), "nonce", unknown.Nonce, "proof", proofFor(unknown, other)))
	require.Equal(t, r.str("msg"), r2.str("msg"))
	require.Nil(t, find(w.myFiles(bob, "normal", 0, 10).files(), "stolen.bin"))

	// A used nonce (known's, answered wrong above), and another user's
	// nonce, prove nothing even with the right bytes.
	w.expect("007", "/md5", bob.body("md5", sum, "fileName", "stolen.bin", "size", len(secret), "nonce", known.Nonce, "proof", proofFor(known, secret)))
	carol := w.login(w.register("pp_carol"+sfx, "carol-pw"))
	c := challengeOf(t, w.expect("007", "/md5", carol.body("md5", sum, "fileName", "c.bin", "size", len(secret))))
	w.expect("007", "/md5", bob.body("md5", sum, "fileName", "stolen.bin", "size", len(secret), "nonce", c.Nonce, "proof", proofFor(c, secret)))
	require.Nil(t, find(w.myFiles(bob, "normal", 0, 10).files(), "stolen.bin"))

	// Who holds the bytes links them without sending them.
	w.check(w.instantUpload(bob, "mine.bin", secret), "006", "instant upload with a proof")
	l := w.myFiles(bob, "normal", 0, 10)
	require.Equal(t, sum, find(l.files(), "mine.bin")["md5"], "%s", l)

	// One's own content: 005 for the same name, linked at once under another.
	w.expect("005", "/md5", alice.body("md5", sum, "fileName", "secret.bin"))
	w.expect("006", "/md5", alice.body("md5", sum, "fileName", "secret copy.bin"))
	// Small content is asked for whole.
	small := []byte("small secret " + sfx)
	w.check(w.upload(alice, "small.txt", small), "008", "upload small")
	cs := challengeOf(t, w.expect("007", "/md5", bob.body("md5", md5hex(small), "fileName", "s.txt", "size", len(small))))
	require.Equal(t, [][2]int64{{0, int64(len(small))}}, cs.Ranges)
}

// shared infra with a private Redis (the test stops it).
func privateRedis(t *testing.T) *shared {
	base := sharedInfra(t)
	return &shared{db: base.db, redis: cluster.StartRedis(t), dfs: base.dfs}
}

// Point 5: password guessing is slowed per account and per address, with
// Redis down too, and a refused attempt is answered 027 with retry_after.
func TestSecurityLoginThrottle(t *testing.T) {
	t.Parallel() // long and mostly waiting (on processes, timeouts): run beside the other such tests
	in := privateRedis(t)
	s := StartStack(t, Options{infra: in})
	w := newWeb(t, s)
	sfx := suffix()
	login := func(a account) reply { return w.post("/login", map[string]any{"user": a.name, "pwd": a.pwd}) }
	wrong := func(a account) {
		w.expect("001", "/login", map[string]any{"user": a.name, "pwd": md5hex([]byte("guess"))})
	}
	// lockedOut: the right password is refused without being checked.
	lockedOut := func(a account) {
		t.Helper()
		r := login(a)
		require.Equal(t, http.StatusOK, r.status, "%s", r)
		require.Equal(t, "027", r.code(), "the right password after 5 failures: %s", r)
		n := num(r.obj["retry_after"])
		require.GreaterOrEqual(t, n, int64(1), "%s", r)
		require.Equal(t, fmt.Sprint(n), r.header.Get("Retry-After"), "%s", r)
		require.Contains(t, r.str("msg"), fmt.Sprintf("try again in %d s", n))
		require.Empty(t, r.header.Values("Set-Cookie"), "%s", r)
	}
	// backIn: after the lock the right password works again.
	backIn := func(a account) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := login(a)
			if r.code() == "000" {
				return
			}
			require.Equal(t, "027", r.code(), "%s", r)
			require.True(t, time.Now().Before(deadline), "still locked: %s", r)
			time.Sleep(time.Duration(num(r.obj["retry_after"])) * time.Second)
		}
	}

	alice := w.register("lt_alice"+sfx, "alice-pw")
	for range 5 {
		wrong(alice)
	}
	lockedOut(alice)
	// The name in another case is the same account's counter.
	r := w.post("/login", map[string]any{"user": strings.ToUpper(alice.name), "pwd": alice.pwd})
	require.Equal(t, "027", r.code(), "%s", r)
	backIn(alice)

	// Redis down: the counters live in MySQL.
	bob := w.register("lt_bob"+sfx, "bob-pw")
	in.redis.Stop()
	for range 5 {
		wrong(bob)
	}
	lockedOut(bob)
	backIn(bob)
	in.redis.Restart(t)

	// Per address: one failure each on many names, none at its own limit,
	// locks the address out, for an account that never failed too.
	// Failing on through the first locks makes the lock long enough to
	// check an innocent account from the same address within it.
	carol := w.register("lt_carol"+sfx, "carol-pw")
	failures := 0
	for i := 0; ; i++ {
		r := w.post("/login", map[string]any{"user": fmt.Sprintf("lt_ghost%d_%s", i, sfx), "pwd": md5hex([]byte("guess"))})
		require.Contains(t, []string{"001", "027"}, r.code(), "%s", r)
		if r.code() == "001" {
			failures++
			require.Less(t, failures, 25, "25 failures from one address, no lock")
			continue
		}
		if secs := num(r.obj["retry_after"]); secs < 3 {
			time.Sleep(time.Duration(secs) * time.Second)
			continue
		}
		break
	}
	require.Less(t, failures, 25)
	lockedOut(carol)
}

// tokenKey is the Redis key of a token in stack s.
func tokenKey(t testing.TB, s *Stack, token string) string {
	b, err := os.ReadFile(s.Cfg)
	require.NoError(t, err)
	var cfg struct {
		Redis struct {
			KeyPrefix string `json:"key_prefix"`
		} `json:"redis"`
	}
	require.NoError(t, json.Unmarshal(b, &cfg))
	h := sha256.Sum256([]byte(token))
	return cfg.Redis.KeyPrefix + "token:" + hex.EncodeToString(h[:])
}

// Point 6: a logged-out token stays dead when Redis crashes and reloads a
// snapshot that still holds it, and logout works while Redis is down.
func TestSecurityLogoutFinal(t *testing.T) {
	t.Parallel() // long and mostly waiting (on processes, timeouts): run beside the other such tests
	in := privateRedis(t)
	s := StartStack(t, Options{infra: in})
	w := newWeb(t, s)
	sfx := suffix()
	alice := w.login(w.register("lo_alice"+sfx, "alice-pw"))
	bob := w.login(w.register("lo_bob"+sfx, "bob-pw"))
	for _, a := range []account{alice, bob} {
		w.expect("110", "/myfiles?cmd=count", a.body())
	}
	rc, err := redis.Dial("tcp", in.redis.Addr(), redis.DialConnectTimeout(5*time.Second), redis.DialReadTimeout(30*time.Second))
	require.NoError(t, err)
	for _, a := range []account{alice, bob} {
		n, err := redis.Int(rc.Do("EXISTS", tokenKey(t, s, a.token)))
		require.NoError(t, err)
		require.Equal(t, 1, n, "the token of %s is not cached", a.name)
	}
	_, err = rc.Do("SAVE") // the snapshot a crash will bring back
	require.NoError(t, err)
	rc.Close()

	// stayDead asserts a token is refused, over a few seconds in which the
	// programs reconnect to Redis and use it again.
	stayDead := func(a account) {
		t.Helper()
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			w.expect("111", "/myfiles?cmd=count", a.body())
		}
	}

	w.expect("023", "/logout", alice.body())
	w.expect("111", "/myfiles?cmd=count", alice.body())
	in.redis.Kill()
	in.redis.Restart(t) // loads the snapshot
	rc, err = redis.Dial("tcp", in.redis.Addr(), redis.DialConnectTimeout(5*time.Second))
	require.NoError(t, err)
	defer rc.Close()
	n, err := redis.Int(rc.Do("EXISTS", tokenKey(t, s, alice.token)))
	require.NoError(t, err)
	require.Equal(t, 1, n, "the snapshot did not bring the logged-out token back (the test proves nothing)")
	stayDead(alice)
	w.expect("110", "/myfiles?cmd=count", bob.body())

	// Logout while Redis is down, then Redis back with the snapshot that
	// still holds bob's token.
	in.redis.Stop()
	w.expect("023", "/logout", bob.body())
	w.expect("111", "/myfiles?cmd=count", bob.body())
	// Login needs no Redis either: MySQL holds the tokens.
	carol := w.login(w.register("lo_carol"+sfx, "carol-pw"))
	w.expect("110", "/myfiles?cmd=count", carol.body())
	in.redis.Restart(t)
	stayDead(bob)
	w.expect("110", "/myfiles?cmd=count", carol.body())
}

// A logout stops uploads within a second, also in the upload program,
// which trusts a token it accepted for a moment without asking Redis
// (store.Options.TokenCacheAge), and in both upload modes.
func TestSecurityLogoutStopsUploads(t *testing.T) {
	t.Parallel() // long and mostly waiting (on processes, timeouts): run beside the other such tests
	for _, mode := range []string{"exec", "inprocess"} {
		t.Run(mode, func(t *testing.T) {
			s := StartStack(t, Options{UploadMode: mode})
			w := newWeb(t, s)
			a := w.login(w.register("lu_"+mode+suffix(), "pw"))
			upload := func(name string) reply {
				body, ctype := uploadBody(a, name, []byte(name+" "+suffix()))
				return w.do("POST", "/upload", ctype, bytes.NewReader(body))
			}
			// Uploads in a row, the way a folder is uploaded: the token is
			// in the program's cache when the logout comes.
			for i := range 3 {
				r := upload(fmt.Sprintf("before%d.txt", i))
				require.Equal(t, "008", r.code(), "%s", r)
			}
			w.expect("023", "/logout", a.body())
			loggedOut := time.Now()
			time.Sleep(time.Until(loggedOut.Add(time.Second))) // the promise: within a second
			r := upload("after.txt")
			require.Equal(t, "111", r.code(), "an upload a second after the logout: %s", r)
			w.expect("111", "/myfiles?cmd=count", a.body())
		})
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory (root only);
// it is unmounted at the end of the test, after everything on it stopped.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "yunpan-full-")
	require.NoError(t, err)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput(); err != nil {
		os.Remove(dir)
		t.Skipf("a full disk needs a tmpfs mount (root): %v %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("umount", "-l", dir).Run()
		os.RemoveAll(dir)
	})
	return dir
}

// fill writes a file on dir until only about leave bytes are free.
func fill(t *testing.T, dir string, leave int64) {
	t.Helper()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &st))
	free := int64(st.Bavail) * st.Bsize
	if free > leave {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "filler"), make([]byte, free-leave), 0o600))
	}
}

// requireLogLine waits for a line with text in program prog's log (its
// output reaches us through a pipe, after its answer may have).
func requireLogLine(t *testing.T, s *Stack, prog, text string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(s.fcgi[prog].output(), text) }, 10*time.Second, 20*time.Millisecond,
		"no %q line in the log of %s", text, prog)
}

var serverPathRE = regexp.MustCompile(`/(tmp|var|srv|home|root|run|work|etc)/`)

// requireStorageFull checks the answer to an upload a full disk refused.
func requireStorageFull(t *testing.T, r reply) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, "009", r.code(), "%s", r)
	require.Equal(t, "storage full: the file was not stored; try again later", r.str("msg"), "%s", r)
	require.NotRegexp(t, serverPathRE, string(r.body))
	require.NotContains(t, string(r.body), "no space")
}

// Point 10: a full upload spool says "storage full", without a path.
func TestSecurityStorageFullSpool(t *testing.T) {
	spool := mountTmpfs(t, 128<<10)
	s := StartStack(t, Options{Cfg: map[string]any{"temp_dir": spool}})
	w := newWeb(t, s)
	alice := w.login(w.register("sf_alice"+suffix(), "alice-pw"))
	data := make([]byte, 300<<10)
	rand.Read(data)
	requireStorageFull(t, w.upload(alice, "big.bin", data))
	requireStorageFull(t, w.courseUpload(alice, "big.bin", data))
	requireLogLine(t, s, "upload", "storage full")
	// Room again: the same upload goes through.
	w.check(w.upload(alice, "small.bin", data[:1000]), "008", "a small upload")
}

// Point 10: a full DFS says "storage full", not "unavailable".
func TestSecurityStorageFullDFS(t *testing.T) {
	base := sharedInfra(t) // before TMPDIR moves: the shared services stay where they are
	spool, err := os.MkdirTemp("", "yunpan-spool-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(spool) })
	disk := mountTmpfs(t, 16<<20)
	t.Setenv("TMPDIR", disk) // this test's temp dirs, the DFS's store path among them
	in := &shared{db: base.db, redis: base.redis, dfs: cluster.StartDFS(t)}
	s := StartStack(t, Options{infra: in, Cfg: map[string]any{"temp_dir": spool}})
	w := newWeb(t, s)
	alice := w.login(w.register("sfd_alice"+suffix(), "alice-pw"))
	w.check(w.upload(alice, "first.bin", []byte("room enough")), "008", "upload before the disk fills")
	fill(t, disk, 96<<10)
	data := make([]byte, 200<<10) // kept in memory by Nginx (client_body_buffer_size 256k)
	// The storage reports its free space every second; uploads may still
	// land until the tracker knows.
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		rand.Read(data)
		r := w.upload(alice, fmt.Sprintf("f%d.bin", i), data)
		if r.code() != "008" {
			requireStorageFull(t, r)
			break
		}
		require.True(t, time.Now().Before(deadline), "uploads still stored on a full disk: %s", r)
		time.Sleep(200 * time.Millisecond)
	}
	requireLogLine(t, s, "upload", "storage full")
}

// Point 11: user names are unique in any case; invisible characters are
// refused in user, nick and file names.
func TestSecurityNames(t *testing.T) {
	t.Parallel() // its own stack: runs beside the other such tests
	s := StartStack(t, Options{})
	w := newWeb(t, s)
	sfx := suffix()
	alice := w.login(w.register("Case_"+sfx, "alice-pw"))
	for _, n := range []string{"CASE_" + sfx, "case_" + sfx, "cAsE_" + sfx} {
		r := w.expect("003", "/reg", map[string]any{"userName": n, "nickName": "nick of " + n, "firstPwd": md5hex([]byte("x"))})
		require.Contains(t, r.str("msg"), "case", "%s", r)
		w.expect("001", "/login", map[string]any{"user": n, "pwd": md5hex([]byte("x"))})
	}
	for _, nick := range []string{"evil\u202Enick", "zero\u200Bwidth", "join\u200Dme", "bom\uFEFF", "isolate\u2066x\u2069"} {
		w.expect("004", "/reg", map[string]any{"userName": "n" + fmt.Sprint(len(nick)) + sfx, "nickName": nick, "firstPwd": md5hex([]byte("x"))})
	}
	data := []byte("names " + sfx)
	for _, name := range []string{"invoice\u202Efdp.exe", "a\u200Bb.txt", "rlm\u200F.txt", "lri\u2067.txt", "line\u2028sep.txt", "shy\u00ADx.txt"} {
		r := w.upload(alice, name, data)
		w.check(r, "009", "upload %q", name)
		require.Contains(t, r.str("msg"), "bidi-override or zero-width", "%s", r)
		w.check(w.courseUpload(alice, name, data), "009", "course upload %q", name)
		w.expect("009", "/md5", alice.body("md5", md5hex(data), "fileName", name))
	}
	require.Empty(t, w.myFiles(alice, "normal", 0, 10).files())
	// Plain Unicode names are fine.
	w.check(w.upload(alice, "报告 2024 ü.txt", data), "008", "a Chinese name")
}

// Point 12: calling pv in a loop does not push a share up the ranking.
func TestSecurityPVPumping(t *testing.T) {
	t.Parallel() // its own stack: runs beside the other such tests
	s := StartStack(t, Options{})
	w := newWeb(t, s)
	sfx := suffix()
	alice := w.login(w.register("pv_alice"+sfx, "alice-pw"))
	bob := w.login(w.register("pv_bob"+sfx, "bob-pw"))
	carol := w.login(w.register("pv_carol"+sfx, "carol-pw"))
	top, low := []byte("top "+sfx), []byte("low "+sfx)
	for _, f := range []struct {
		name string
		data []byte
	}{{"top.txt", top}, {"low.txt", low}} {
		w.check(w.upload(alice, f.name, f.data), "008", "upload")
		w.expect("010", "/dealfile?cmd=share", alice.body("md5", md5hex(f.data), "filename", f.name))
	}
	w.expect("016", "/dealsharefile?cmd=pv", bob.body("md5", md5hex(top), "filename", "top.txt"))
	for range 20 {
		r := w.expect("016", "/dealsharefile?cmd=pv", bob.body("md5", md5hex(low), "filename", "low.txt"))
		require.Equal(t, int64(1), num(r.obj["pv"]), "%s", r)
	}
	// Another account from the same address does not count again either.
	w.expect("016", "/dealsharefile?cmd=pv", carol.body("md5", md5hex(low), "filename", "low.txt"))
	r := w.expect("000", "/sharefiles?cmd=pvdesc", map[string]any{"start": 0, "count": 10})
	for _, f := range r.files() {
		require.Equal(t, int64(1), num(f["pv"]), "%s", r)
	}
	r = w.expect("000", "/sharefiles?cmd=normal", map[string]any{"start": 0, "count": 10})
	require.Equal(t, int64(1), num(find(r.files(), "low.txt")["pv"]), "%s", r)
	// The owner's own count moves once too.
	for range 10 {
		w.expect("016", "/dealfile?cmd=pv", alice.body("md5", md5hex(top), "filename", "top.txt"))
	}
	l := w.myFiles(alice, "pvdesc", 0, 10)
	require.Equal(t, int64(1), num(find(l.files(), "top.txt")["pv"]), "%s", l)
}

// Point 4 in the web client: the page answers the challenge from the file
// the user picked (html/md5.js's rangeProof) and the server links it.
func TestSecurityBrowserInstantUpload(t *testing.T) {
	s := StartStack(t, Options{})
	w := newWeb(t, s)
	sfx := suffix()
	alice := w.login(w.register("bi_alice"+sfx, "alice-pw"))
	const bobPwd = "bob-password"
	bob := w.register("bi_bob"+sfx, bobPwd)
	content := make([]byte, 200<<10+7)
	rand.Read(content)
	w.check(w.upload(alice, "shared bytes.bin", content), "008", "upload")
	src := filepath.Join(t.TempDir(), "my copy.bin")
	require.NoError(t, os.WriteFile(src, content, 0o644))

	ctx := newBrowser(t)
	logIn(t, ctx, s.URL, bob.name, bobPwd)
	step(t, ctx, "instant upload", 60*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{src}),
		chromedp.Click(chromedp.CSS("#upload-btn")),
		until(`document.getElementById('upload-status').textContent.includes('uploaded instantly')`),
	)
	bob = w.login(bob)
	f := find(w.myFiles(bob, "normal", 0, 10).files(), "my copy.bin")
	require.NotNil(t, f)
	require.Equal(t, md5hex(content), f["md5"])
}
