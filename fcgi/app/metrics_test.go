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
	"yunpan/internal/metrics"
)

func scrapeApp(t *testing.T, addr string) *metrics.Samples {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second}
	res, err := cl.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	ss, err := metrics.Parse(strings.NewReader(string(b)))
	require.NoError(t, err, string(b))
	return ss
}

// TestMetricsWrap checks the wrapper alone: codes, bounded endpoint
// labels, latency, bytes and the access event.
func TestMetricsWrap(t *testing.T) {
	m := NewMetrics("md5")
	var logBuf strings.Builder
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/md5" {
			w.Write([]byte("hello"))
			return
		}
		http.Error(w, "no", http.StatusNotFound)
	}), zerolog.New(&logBuf), true)
	for _, p := range []string{"/md5", "/md5", "/x1", "/x2"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	var b strings.Builder
	_, err := m.Registry().WriteTo(&b)
	require.NoError(t, err)
	ss, err := metrics.Parse(strings.NewReader(b.String()))
	require.NoError(t, err)
	v, _ := ss.Sum("yunpan_fcgi_requests_total", "endpoint", "/md5", "code", "200")
	require.Equal(t, 2.0, v)
	v, _ = ss.Sum("yunpan_fcgi_requests_total", "endpoint", "other", "code", "404")
	require.Equal(t, 2.0, v, "unknown paths share one label value")
	v, _ = ss.Sum("yunpan_fcgi_request_duration_seconds_count", "endpoint", "/md5")
	require.Equal(t, 2.0, v)
	v, _ = ss.Sum("yunpan_fcgi_response_bytes_total", "endpoint", "/md5")
	require.Equal(t, 10.0, v)
	v, _ = ss.Sum("yunpan_fcgi_requests_in_flight")
	require.Equal(t, 0.0, v)
	v, _ = ss.Sum("yunpan_fcgi_program_info", "program", "md5")
	require.Equal(t, 1.0, v)
	require.Equal(t, 4, strings.Count(logBuf.String(), `"message":"access"`), logBuf.String())
	require.Contains(t, logBuf.String(), `"endpoint":"/md5","uri":"/md5","code":200,"bytes":5`)
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
