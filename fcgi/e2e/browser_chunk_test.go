package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"yunpan/nginx"
)

// TestBrowserWebChunkedResume uploads a file of many chunks (256 KiB here)
// from the web client, cuts the connection in the middle (Nginx stopped:
// the page waits and goes on by itself once it is back), then reloads the
// page in the middle: the queue lists the unfinished upload, the file is
// picked again and the upload goes on from the server's offset. The file
// stored is byte for byte the source.
func TestBrowserWebChunkedResume(t *testing.T) {
	s := StartStack(t, Options{Cfg: map[string]any{"chunk_size": "256k"}})
	w := newWeb(t, s)
	ctx := newBrowserSized(t, 1280, 800)
	art := artifacts(t)
	logsOnFailure(t, s)
	const pwd = "chunk-resume-pw"
	a := w.register("cr_"+suffix(), pwd)
	logIn(t, ctx, s.URL, a.name, pwd)
	step(t, ctx, "empty list", 20*time.Second, chromedp.WaitVisible(chromedp.CSS("#myfiles-empty")))

	name := "holiday video.mp4"
	content := patterned(4<<20+12345, 5) // 17 chunks, the last one short
	src := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(src, content, 0o644))
	pct := func() float64 {
		return eval[float64](t, ctx, `Number((document.querySelector(`+jsString(itemSel(name)+" progress")+`) || {value: 0}).value)`)
	}

	throttle(t, ctx, 1<<20)
	step(t, ctx, "upload in chunks", 60*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{src}),
		phaseIs(name, "uploading"),
		until(`Number(document.querySelector(`+jsString(itemSel(name)+" progress")+`).value) >= 15`))

	// The connection drops: the page waits, and goes on once it is back.
	s.nginx.stop(syscall.SIGTERM, 10*time.Second)
	httpClient.CloseIdleConnections()
	step(t, ctx, "waiting for the server", 60*time.Second, phaseIs(name, "waiting"))
	screenshot(t, ctx, art, "web-chunked-waiting.png")
	before := pct()
	s.nginx = startProc(t, "nginx", nil, lookSys("nginx"), nginx.Args(s.NginxDir)...)
	require.NoError(t, waitPort(s.Addr, 15*time.Second, s.nginx))
	step(t, ctx, "going on by itself", 90*time.Second,
		phaseIs(name, "uploading"),
		until(`Number(document.querySelector(`+jsString(itemSel(name)+" progress")+`).value) >= `+strconv.Itoa(int(before)+15)))

	// A reload in the middle (as a closed tab or a restarted browser): the
	// unfinished upload is listed, and goes on once its file is picked.
	step(t, ctx, "reload", 30*time.Second,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#view-main")),
		phaseIs(name, "paused"))
	require.Greater(t, pct(), 0.0, "the paused row shows what the server has")
	axeCheck(t, ctx, "an unfinished upload")
	screenshot(t, ctx, art, "web-chunked-paused.png")
	throttle(t, ctx, -1)
	step(t, ctx, "pick the file again", 60*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS(itemSel(name)+" .up-resume-input"), []string{src}),
		phaseIs(name, "done"),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", name))))
	resumed, err := strconv.Atoi(eval[string](t, ctx, `document.querySelector(`+jsString(itemSel(name))+`).dataset.resumed || '0'`))
	require.NoError(t, err)
	require.Positive(t, resumed, "the upload went on from the server's offset, not from the start")
	require.Zero(t, resumed%(256<<10), "it went on at a chunk boundary")
	require.Empty(t, eval[string](t, ctx, `Object.keys(localStorage).filter(k => k.startsWith('yunpan.chunked.') && localStorage.getItem(k) !== '[]').join()`),
		"a finished upload is forgotten")

	a = w.login(a)
	q := fmt.Sprintf("/download?md5=%s&filename=%s", md5hex(content), "holiday%20video.mp4")
	r := w.do("GET", q, "", nil, "Authorization", "Bearer "+a.token)
	require.Equal(t, 200, r.status, "%s", r)
	require.Equal(t, len(content), len(r.body))
	require.Equal(t, md5hex(content), md5hex(r.body), "the stored file is the source")
	r = w.post("/chunk?cmd=list", a.body())
	require.Equal(t, "080", r.code(), "%s", r)
	require.Empty(t, r.obj["sessions"])
}
