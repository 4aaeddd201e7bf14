package app

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/fcgi/config"
	"yunpan/internal/cluster"
	"yunpan/internal/metrics/scrape"
)

func scrapeApp(t *testing.T, addr string) *scrape.Samples {
	t.Helper()
	ss, err := scrape.Get(t.Context(), &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/metrics")
	require.NoError(t, err)
	return ss
}

// TestMiddleware checks the one layer alone: codes, bounded endpoint
// labels, latency, bytes, the JSON code, a recovered panic and one log
// line per request.
func TestMiddleware(t *testing.T) {
	a := &App{} // reply needs only the logger
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/md5":
			w.Write([]byte("hello"))
		case "/reg":
			a.fail(w, http.StatusConflict, CodeRegExists, "exists")
		case "/login":
			panic("boom")
		default:
			http.Error(w, "no", http.StatusNotFound)
		}
	})
	serve := func(m *middleware, paths ...string) {
		h := m.wrap(handler)
		for _, p := range paths {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
		}
	}

	var logBuf strings.Builder
	m := &middleware{log: zerolog.New(&logBuf).Level(zerolog.WarnLevel), access: true, met: NewMetrics("md5")}
	serve(m, "/md5", "/md5", "/x1", "/x2", "/reg", "/login")
	ss, err := scrape.Gather(m.met.Registry())
	require.NoError(t, err)
	v, _ := ss.Sum("yunpan_fcgi_requests_total", "endpoint", "/md5", "code", "200")
	require.Equal(t, 2.0, v)
	v, _ = ss.Sum("yunpan_fcgi_requests_total", "endpoint", "other", "code", "404")
	require.Equal(t, 2.0, v, "unknown paths share one label value")
	v, _ = ss.Sum("yunpan_fcgi_requests_total", "endpoint", "/login", "code", "500")
	require.Equal(t, 1.0, v, "a panic is a 500")
	v, _ = ss.Sum("yunpan_fcgi_request_duration_seconds_count", "endpoint", "/md5")
	require.Equal(t, 2.0, v)
	v, _ = ss.Sum("yunpan_fcgi_response_bytes_total", "endpoint", "/md5")
	require.Equal(t, 10.0, v)
	v, _ = ss.Sum("yunpan_fcgi_requests_in_flight")
	require.Equal(t, 0.0, v)
	v, _ = ss.Sum("yunpan_fcgi_program_info", "program", "md5")
	require.Equal(t, 1.0, v)

	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	require.Len(t, lines, 6, "one line per request:\n%s", logBuf.String())
	require.Equal(t, 5, strings.Count(logBuf.String(), `"message":"access"`), logBuf.String())
	require.Contains(t, lines[0], `"endpoint":"/md5","uri":"/md5","code":200,"bytes":5`)
	require.Contains(t, lines[4], `"endpoint":"/reg","uri":"/reg","code":409,"json_code":"003"`)
	require.Contains(t, lines[5], `"level":"error","panic":"boom"`)
	require.Contains(t, lines[5], `"code":500,"json_code":"500"`)
	require.Contains(t, lines[5], `"message":"handler panic"`)

	// Without -access-log the lines are debug ones: only the panic's is
	// written at warn level.
	logBuf.Reset()
	m = &middleware{log: zerolog.New(&logBuf).Level(zerolog.WarnLevel), met: NewMetrics("md5")}
	serve(m, "/md5", "/login")
	require.Equal(t, 1, strings.Count(logBuf.String(), "\n"), logBuf.String())
	require.Contains(t, logBuf.String(), `"message":"handler panic"`)
}

// TestProgramMetrics runs the real reg program with -metrics and
// -access-log and scrapes it after a few requests.
func TestProgramMetrics(t *testing.T) {
	bin := cluster.Bin(t)
	cfg := testConfig(t, config.UploadExec)
	cfgPath := writeCfg(t, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", cluster.FreePort(t))
	maddr := fmt.Sprintf("127.0.0.1:%d", cluster.FreePort(t))
	p := startProg(t, exec.Command(filepath.Join(bin, "reg"), "-conf", cfgPath, "-listen", addr,
		"-metrics", maddr, "-access-log"), mdb.Password)
	waitPort(t, addr, p)
	waitPort(t, maddr, p)

	cl := &http.Client{Timeout: 10 * time.Second}
	do := func(method, path, body string) int {
		req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		res, err := cl.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, 200, do("POST", "/reg", `{"userName":"metricsuser","nickName":"m","firstPwd":"`+pwHash("x")+`"}`))
	require.Equal(t, 400, do("POST", "/reg", `{not json`))
	require.Equal(t, 405, do("GET", "/reg", ""))
	require.Equal(t, 405, do("GET", "/reg", ""))

	ss := scrapeApp(t, maddr)
	for code, want := range map[string]float64{"200": 1, "400": 1, "405": 2} {
		v, ok := ss.Sum("yunpan_fcgi_requests_total", "endpoint", "/reg", "code", code)
		require.True(t, ok, code)
		require.Equal(t, want, v, code)
	}
	n, _ := ss.Sum("yunpan_fcgi_request_duration_seconds_count", "endpoint", "/reg")
	require.Equal(t, 4.0, n)
	inf, _ := ss.Sum("yunpan_fcgi_request_duration_seconds_bucket", "endpoint", "/reg", "le", "+Inf")
	require.Equal(t, 4.0, inf)
	sum, _ := ss.Sum("yunpan_fcgi_request_duration_seconds_sum", "endpoint", "/reg")
	require.Greater(t, sum, 0.0)
	require.Equal(t, "histogram", ss.Types["yunpan_fcgi_request_duration_seconds"])

	p.stop(t)
	require.Equal(t, 4, strings.Count(p.out.String(), `"message":"access"`), p.out.String())
}
