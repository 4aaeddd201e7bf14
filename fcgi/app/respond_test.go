package app

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rs/zerolog"

	"yunpan/dfs/proto"
	"yunpan/fcgi/config"
)

// By default (http_status_codes off) refusals go out with HTTP 200 and
// their code in the body, as the course's server did; 500 and 503 stay.
func TestCourseStatuses(t *testing.T) {
	cfg := testConfig(t, "exec")
	cfg.HTTPStatusCodes = false
	e := newEnv(t, cfg)
	expect(t, e.post("/login", map[string]any{"user": "nobody", "pwd": pwHash("x")}), http.StatusOK, CodeLoginFail)
	expect(t, e.post("/myfiles?cmd=count", map[string]any{"user": "nobody", "token": "bad"}), http.StatusOK, CodeTokenBad)
	expect(t, e.post("/dealfile?cmd=nosuch", map[string]any{}), http.StatusOK, CodeShareFail)
	expect(t, e.do(http.MethodGet, "/reg", nil, nil), http.StatusOK, CodeRegFail)
	// /download is no course call: it keeps its statuses.
	expect(t, e.do(http.MethodGet, "/download?md5=00000000000000000000000000000000&filename=x", nil, nil), http.StatusUnauthorized, CodeTokenBad)

	for _, c := range []struct{ in, out int }{{200, 200}, {206, 206}, {400, 200}, {401, 200}, {404, 200}, {409, 200},
		{413, 200}, {429, 200}, {499, 200}, {507, 200}, {500, 500}, {503, 503}} {
		rec := httptest.NewRecorder()
		courseWriter{rec}.WriteHeader(c.in)
		require.Equal(t, c.out, rec.Code, "status %d", c.in)
	}
}

// A full disk is "storage full" without a path; internal errors say
// nothing of themselves; refusals keep their words but no server path.
func TestFailErrMessages(t *testing.T) {
	a := &App{cfg: config.Default(), log: zerolog.Nop()}
	for _, c := range []struct {
		err    error
		status int
		msg    string
	}{
		{fmt.Errorf("%w: open /var/tmp/yunpan-upload-1/03/up-77: %w", errSpool, syscall.ENOSPC), http.StatusInsufficientStorage, msgStorageFull},
		{fmt.Errorf("%w: upload: %w", errDFS, proto.Errf(proto.StatusENOSPC, "no writable store path with free space")), http.StatusInsufficientStorage, msgStorageFull},
		{fmt.Errorf("%w: fdfs_upload_file: exit status 28: %w", errDFS, syscall.ENOSPC), http.StatusInsufficientStorage, msgStorageFull},
		{fmt.Errorf("%w: write /srv/spool/x: input/output error", errSpool), http.StatusInternalServerError, msgInternal},
		{errors.New("dial tcp 10.0.0.1:3306: secret detail /etc/x/y"), http.StatusInternalServerError, msgInternal},
		{fmt.Errorf("%w: upload: connection refused", errDFS), http.StatusServiceUnavailable, msgUnavailable},
		{badRequest("file part: open /tmp/a/b/c: denied"), http.StatusBadRequest, "bad request: file part: open [path]: denied"},
	} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/upload", nil)
		a.failErr(rec, r, c.err, CodeUploadFail)
		require.Equal(t, c.status, rec.Code, "%v", c.err)
		require.Contains(t, rec.Body.String(), `"msg":"`+c.msg+`"`, "%v", c.err)
		require.Contains(t, rec.Body.String(), `"code":"009"`)
		require.NotRegexp(t, `/(var|srv|etc|tmp)/`, rec.Body.String())
	}
}
