package app

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/fcgi/config"
	"yunpan/internal/cluster"
)

// TestConcurrentSameContent: 50 users upload the same bytes at once (half
// through an exec-mode app, half through an in-process one, on the same
// database): one DFS file with a reference count of 50 is left; deleting
// every copy at once removes the DFS file; the counters match the rows.
func TestConcurrentSameContent(t *testing.T) {
	const users = 50
	cfgE := testConfig(t, config.UploadExec)
	cfgI := *cfgE
	cfgI.UploadMode = config.UploadInProcess
	cfgI.TempDir = t.TempDir()
	ee, ei := newEnv(t, cfgE), newEnv(t, &cfgI)
	envs := []*env{ee, ei}
	content := randBytes(200 << 10)
	m := sum(content)
	toks := make([]string, users)
	for i := range users {
		toks[i] = envs[i%2].user(fmt.Sprintf("cc%02d", i))
	}
	before := dfsFileCount(t)

	var wg sync.WaitGroup
	res := make([]resp, users)
	start := make(chan struct{})
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			e := envs[i%2]
			if i%4 < 2 {
				res[i] = e.uploadMP(fmt.Sprintf("cc%02d", i), toks[i], "same.bin", content)
			} else {
				res[i] = e.do(http.MethodPost, "/upload", onePartBody(fmt.Sprintf("cc%02d", i), toks[i], "same.bin", m, len(content), content), nil)
			}
		}()
	}
	close(start)
	wg.Wait()
	for i := range users {
		expect(t, res[i], http.StatusOK, CodeUploadOK)
	}
	db := ee.a.st.DB()
	one := func(q string, args ...any) int64 {
		var n int64
		require.NoError(t, db.QueryRow(q, args...).Scan(&n))
		return n
	}
	require.Equal(t, before+1, dfsFileCount(t), "exactly one DFS file")
	require.Equal(t, int64(users), one("SELECT count FROM file_info WHERE md5 = ?", m))
	require.Equal(t, int64(1), one("SELECT COUNT(*) FROM file_info"))
	require.Equal(t, int64(users), one("SELECT COUNT(*) FROM user_file_list WHERE md5 = ?", m))
	require.Equal(t, int64(users), one("SELECT SUM(count) FROM user_file_count"))
	require.Equal(t, int64(0), one("SELECT COUNT(*) FROM user_file_count WHERE count <> 1"))
	require.Equal(t, int64(0), one("SELECT COUNT(*) FROM dfs_gc"), "duplicates left to collect")
	fileID := ee.fileID(m)
	cl := dfsClient(t)
	got, err := cl.DownloadBytes(context.Background(), fileID, 0, 0)
	require.NoError(t, err)
	require.Equal(t, content, got)

	// Everyone deletes at once.
	start = make(chan struct{})
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res[i] = envs[(i+1)%2].post("/dealfile?cmd=del", map[string]any{"user": fmt.Sprintf("cc%02d", i), "token": toks[i], "md5": m, "filename": "same.bin"})
		}()
	}
	close(start)
	wg.Wait()
	for i := range users {
		expect(t, res[i], http.StatusOK, CodeDelOK)
	}
	// In the trash the content is still referenced; everyone empties it at once.
	_, err = cl.DownloadBytes(context.Background(), fileID, 0, 0)
	require.NoError(t, err)
	start = make(chan struct{})
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res[i] = envs[i%2].post("/trash?cmd=empty", map[string]any{"user": fmt.Sprintf("cc%02d", i), "token": toks[i]})
		}()
	}
	close(start)
	wg.Wait()
	for i := range users {
		expect(t, res[i], http.StatusOK, CodeEmptyTrashOK)
	}
	_, err = cl.DownloadBytes(context.Background(), fileID, 0, 0)
	require.Error(t, err)
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "%v", err)
	require.Equal(t, before, dfsFileCount(t))
	require.Equal(t, int64(0), one("SELECT COUNT(*) FROM file_info"))
	require.Equal(t, int64(0), one("SELECT COUNT(*) FROM user_file_list"))
	require.Equal(t, int64(0), one("SELECT SUM(count) FROM user_file_count"))
	require.Equal(t, int64(0), one("SELECT COUNT(*) FROM dfs_gc"))
	spoolEmpty(t, ee)
	spoolEmpty(t, ei)
}

// TestRedisDown: with Redis killed, everything keeps working from MySQL,
// login and logout included (MySQL holds the tokens); after a restart the
// ranking comes from Redis again.
func TestRedisDown(t *testing.T) {
	for _, mode := range []string{config.UploadExec, config.UploadInProcess} {
		t.Run(mode, func(t *testing.T) {
			r := cluster.StartRedis(t)
			cfg := testConfig(t, mode)
			cfg.Redis.Port = r.Port
			e := newEnv(t, cfg)
			tok := e.user("rdu")
			c1 := randBytes(5000)
			expect(t, e.uploadMP("rdu", tok, "before.txt", c1), http.StatusOK, CodeUploadOK)
			f1 := map[string]any{"user": "rdu", "token": tok, "md5": sum(c1), "filename": "before.txt"}
			expect(t, e.post("/dealfile?cmd=share", f1), http.StatusOK, CodeShareOK)

			r.Kill()

			res := e.post("/login", map[string]string{"user": "rdu", "pwd": pwHash("rdu")})
			expect(t, res, http.StatusOK, CodeLoginOK)
			tok2, _ := res.json["token"].(string)
			expect(t, e.post("/logout", map[string]any{"user": "rdu", "token": tok2}), http.StatusOK, CodeLogoutOK)
			expect(t, e.post("/myfiles?cmd=count", map[string]any{"user": "rdu", "token": tok2}), http.StatusUnauthorized, CodeTokenBad)
			// Registration does not need Redis.
			expect(t, e.post("/reg", map[string]string{"userName": "rdu2", "firstPwd": "x"}), http.StatusOK, CodeRegOK)

			c2 := randBytes(6000)
			expect(t, e.uploadMP("rdu", tok, "during.txt", c2), http.StatusOK, CodeUploadOK)
			expect(t, e.do(http.MethodPost, "/upload", onePartBody("rdu", tok, "during2.txt", sum(c1), len(c1), c1), nil), http.StatusOK, CodeUploadOK)
			expect(t, e.post("/md5", map[string]any{"user": "rdu", "token": tok, "md5": sum(c2), "fileName": "during3.txt"}), http.StatusOK, CodeMD5OK) // own content
			files := e.listNames("rdu", tok)
			require.Len(t, files, 4)
			res = e.post("/myfiles?cmd=count", map[string]any{"user": "rdu", "token": tok})
			expect(t, res, http.StatusOK, CodeTokenOK)
			require.Equal(t, "4", res.json["num"])
			expect(t, e.post("/myfiles?cmd=normal", map[string]any{"user": "rdu", "token": "bad"}), http.StatusUnauthorized, CodeTokenBad)
			d := e.download("rdu", tok, sum(c2), "during.txt")
			require.Equal(t, http.StatusOK, d.status)
			require.Equal(t, c2, d.body)
			expect(t, e.post("/download", f1), http.StatusOK, CodeDownloadOK)
			expect(t, e.post("/dealsharefile?cmd=pv", f1), http.StatusOK, CodePVOK)
			res = e.post("/sharefiles?cmd=pvdesc", nil)
			expect(t, res, http.StatusOK, CodeListOK)
			require.EqualValues(t, 1, res.json["files"].([]any)[0].(map[string]any)["pv"])
			expect(t, e.post("/sharefiles?cmd=normal", nil), http.StatusOK, CodeListOK)
			f2 := map[string]any{"user": "rdu", "token": tok, "md5": sum(c2), "filename": "during.txt"}
			expect(t, e.post("/dealfile?cmd=share", f2), http.StatusOK, CodeShareOK)
			expect(t, e.post("/dealsharefile?cmd=cancel", f1), http.StatusOK, CodeCancelOK)
			expect(t, e.post("/dealfile?cmd=del", f1), http.StatusOK, CodeDelOK)

			r.Restart(t)
			require.Eventually(t, func() bool {
				res := e.post("/login", map[string]string{"user": "rdu", "pwd": pwHash("rdu")})
				return res.status == http.StatusOK && res.code() == CodeLoginOK
			}, 10*time.Second, 50*time.Millisecond)
			res = e.post("/sharefiles?cmd=pvdesc", nil)
			expect(t, res, http.StatusOK, CodeListOK)
			rank := res.json["files"].([]any)
			require.Len(t, rank, 1)
			require.Equal(t, "during.txt", rank[0].(map[string]any)["filename"])
		})
	}
}

// TestDeleteRetriedByGC: a DFS delete that fails leaves a dfs_gc row that
// the collector of a later program retries.
func TestDeleteRetriedByGC(t *testing.T) {
	cfg := testConfig(t, config.UploadInProcess)
	good := newEnv(t, cfg)
	tok := good.user("gcu")
	c := randBytes(3000)
	expect(t, good.uploadMP("gcu", tok, "x.bin", c), http.StatusOK, CodeUploadOK)
	fileID := good.fileID(sum(c))

	// A dealfile program whose DFS is unreachable.
	dead := *cfg
	dead.DFSClient = writeClientConf(t, fmt.Sprintf("127.0.0.1:%d", cluster.FreePort(t)))
	dead.TempDir = t.TempDir()
	bad := newEnv(t, &dead)
	expect(t, bad.post("/dealfile?cmd=del", map[string]any{"user": "gcu", "token": tok, "md5": sum(c), "filename": "x.bin"}), http.StatusOK, CodeDelOK)
	expect(t, bad.post("/trash?cmd=empty", map[string]any{"user": "gcu", "token": tok}), http.StatusOK, CodeEmptyTrashOK)
	db := good.a.st.DB()
	var attempts int
	var next int64
	require.NoError(t, db.QueryRow("SELECT attempts, next_try FROM dfs_gc WHERE file_id = ?", fileID).Scan(&attempts, &next))
	require.Equal(t, 1, attempts)
	require.Greater(t, next, time.Now().Unix())
	cl := dfsClient(t)
	_, err := cl.DownloadBytes(context.Background(), fileID, 0, 0)
	require.NoError(t, err, "still stored")

	// Due now: a program with a working DFS and the collector clears it.
	_, err = db.Exec("UPDATE dfs_gc SET next_try = 0")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg2 := *cfg
	cfg2.TempDir = t.TempDir()
	a, err := New(ctx, &cfg2, Options{Log: good.a.log, GCInterval: time.Hour})
	require.NoError(t, err)
	defer a.Close()
	require.Eventually(t, func() bool {
		var n int
		db.QueryRow("SELECT COUNT(*) FROM dfs_gc").Scan(&n)
		return n == 0
	}, 20*time.Second, 50*time.Millisecond)
	_, err = cl.DownloadBytes(context.Background(), fileID, 0, 0)
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "%v", err)
}

func writeClientConf(t testing.TB, tracker string) string {
	p := t.TempDir() + "/client.conf"
	writeFile(t, p, "connect_timeout = 1\nnetwork_timeout = 2\nbase_path = /tmp\ntracker_server = "+tracker+"\n")
	return p
}

// TestDependenciesDown: MySQL or the DFS down gives 503 with the
// endpoint's code, and service resumes when they are back.
func TestDependenciesDown(t *testing.T) {
	own := cluster.StartMariaDB(t)
	cfg := testConfig(t, config.UploadInProcess)
	cfg.MySQL = own.AppMySQL("downtest")
	e := newEnv(t, cfg)
	tok := e.user("downer")
	c := randBytes(1000)
	expect(t, e.uploadMP("downer", tok, "a.txt", c), http.StatusOK, CodeUploadOK)

	own.Kill()
	expect(t, e.post("/myfiles?cmd=normal", map[string]any{"user": "downer", "token": tok}), http.StatusServiceUnavailable, CodeListFail)
	expect(t, e.post("/login", map[string]string{"user": "downer", "pwd": pwHash("downer")}), http.StatusServiceUnavailable, CodeLoginFail)
	expect(t, e.post("/reg", map[string]string{"userName": "downer2", "firstPwd": "x"}), http.StatusServiceUnavailable, CodeRegFail)
	expect(t, e.uploadMP("downer", tok, "b.txt", randBytes(100)), http.StatusServiceUnavailable, CodeUploadFail)
	expect(t, e.post("/sharefiles?cmd=count", nil), http.StatusServiceUnavailable, CodeListFail)
	own.Restart(t)
	require.Eventually(t, func() bool {
		return e.post("/myfiles?cmd=count", map[string]any{"user": "downer", "token": tok}).status == http.StatusOK
	}, 20*time.Second, 100*time.Millisecond)
	require.Len(t, e.listNames("downer", tok), 1)

	// The DFS unreachable: uploads and downloads answer 503.
	dead := *cfg
	dead.DFSClient = writeClientConf(t, fmt.Sprintf("127.0.0.1:%d", cluster.FreePort(t)))
	for _, mode := range []string{config.UploadExec, config.UploadInProcess} {
		d := dead
		d.UploadMode = mode
		d.TempDir = t.TempDir()
		bad := newEnv(t, &d)
		expect(t, bad.uploadMP("downer", tok, "c.txt", randBytes(100)), http.StatusServiceUnavailable, CodeUploadFail)
		expect(t, bad.do(http.MethodPost, "/upload", onePartBody("downer", tok, "c.txt", "", 5, []byte("hello")), nil), http.StatusServiceUnavailable, CodeUploadFail)
		expect(t, bad.download("downer", tok, sum(c), "a.txt"), http.StatusServiceUnavailable, CodeDownloadFail)
		spoolEmpty(t, bad)
	}
	require.Len(t, e.listNames("downer", tok), 1)
}
