package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a fresh headless Chromium (own profile, no network
// services) and returns a tab context; it closes at cleanup.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return newBrowserSized(t, 1280, 900)
}

// newBrowserSized is newBrowser with a window of width × height pixels.
func newBrowserSized(t *testing.T, width, height int) context.Context {
	t.Helper()
	return newBrowserOpts(t, width, height)
}

// newBrowserOpts is newBrowserSized with more Chromium options.
func newBrowserOpts(t *testing.T, width, height int, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	exe := chromiumPath
	if !isExec(exe) {
		if exe = lookSys("chromium", "chromium-browser", "google-chrome"); exe == "" {
			t.Skip("chromium is not installed (apt-get install chromium)")
		}
	}
	var out bytes.Buffer
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.CombinedOutput(&out),
	}
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
		if t.Failed() && out.Len() > 0 {
			t.Logf("chromium output:\n%s", tail(out.String(), 4000))
		}
	})
	// Start the browser with no deadline (a deadline on the first Run would
	// end the browser with it); steps get their own deadlines.
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorDeny,
		})
		return err
	})); err != nil {
		t.Fatalf("start chromium: %v\n%s", err, tail(out.String(), 4000))
	}
	// A headless window is at least 500 px wide: a phone's width is emulated.
	if width < 500 {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
			t.Fatalf("emulate a %d×%d viewport: %v", width, height, err)
		}
	}
	// The page's console and uncaught exceptions, reported when the test fails.
	var mu sync.Mutex
	var console []string
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m.String())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() && len(console) > 0 {
			t.Logf("page console:\n%s", tail(strings.Join(console, "\n"), 4000))
		}
	})
	return ctx
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// step runs actions with a deadline and fails the test with the page's
// state when they do not finish.
func step(t *testing.T, ctx context.Context, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v\npage: %s", what, err, pageState(ctx))
	}
}

// logIn opens the page at base and logs in as user with the form.
func logIn(t *testing.T, ctx context.Context, base, user, pwd string) {
	t.Helper()
	step(t, ctx, "log in", 30*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-btn")),
		chromedp.SendKeys(chromedp.CSS("#login-user"), user),
		chromedp.SendKeys(chromedp.CSS("#login-pwd"), pwd),
		chromedp.Click(chromedp.CSS("#login-btn")),
		chromedp.WaitVisible(chromedp.CSS("#view-main")),
		until(`document.getElementById('whoami').textContent === `+jsString(user)),
	)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

// pageState is the visible messages of the page, for failure reports.
func pageState(ctx context.Context) string {
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Evaluate[string](`location.hash + ' ' + Array.from(document.querySelectorAll('.msg,.state,.upload-item,#transfer-log li')).map(e => (e.id || e.className) + '=' + e.textContent).join(' | ')`))
	if err != nil {
		return err.Error()
	}
	return s
}

// artifacts is where screenshots go: $YUNPAN_ARTIFACTS or a temp dir.
func artifacts(t *testing.T) string {
	if d := os.Getenv("YUNPAN_ARTIFACTS"); d != "" {
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(png, []byte("\x89PNG")), "screenshot is a PNG")
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, png, 0o644))
	t.Logf("screenshot %s", p)
}

// TestBrowserMD5 checks the page's MD5 (html/md5.js, used for instant
// upload) against crypto/md5 in real Chromium, for lengths around the block
// and padding edges, fed in uneven pieces, and through Blob hashing.
func TestBrowserMD5(t *testing.T) {
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(repoRoot, "html"))))
	defer srv.Close()
	ctx := newBrowser(t)
	step(t, ctx, "open page", 20*time.Second, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login-btn")))
	for _, n := range []int{0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 1000, 70000, 1<<20 + 7} {
		data := make([]byte, n)
		rand.Read(data)
		want := md5.Sum(data)
		b64 := hex.EncodeToString(data)
		js := fmt.Sprintf(`(async () => {
			const hex = %q, b = new Uint8Array(hex.length / 2);
			for (let i = 0; i < b.length; i++) b[i] = parseInt(hex.substr(2 * i, 2), 16);
			const h = new YunMD5();
			for (let o = 0, k = 1; o < b.length; o += k, k = k * 3 + 1) h.update(b.subarray(o, Math.min(b.length, o + k)));
			const blob = await YunMD5.ofBlob(new Blob([b]), null, 65536 + 13);
			return h.hex() + ' ' + blob;
		})()`, b64)
		got := eval[string](t, ctx, js)
		w := hex.EncodeToString(want[:])
		require.Equal(t, w+" "+w, got, "md5 of %d bytes", n)
	}
	require.Equal(t, "a7bac2239fcdcb3a067903d8077c4a07", eval[string](t, ctx, `YunMD5.ofString('中文')`))
}

// TestBrowserFlow is the user's path through the web client in Chromium:
// register, log in, upload with the progress bar, share, see the file in the
// public list and the ranking, download it byte for byte, delete it.
func TestBrowserFlow(t *testing.T) {
	s := StartStack(t, Options{})
	ctx := newBrowser(t)
	art := artifacts(t)
	logsOnFailure(t, s)

	user := fmt.Sprintf("web_%d", time.Now().UnixNano()%1e9)
	const pwd = "s3cret-pass"
	content := make([]byte, 3<<20+123) // big enough for several progress events
	rand.Read(content)
	name := "photo album.bin"
	src := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(src, content, 0o644))

	step(t, ctx, "open the register page", 20*time.Second,
		chromedp.Navigate(s.URL+"/#register"), chromedp.WaitVisible(chromedp.CSS("#reg-btn")))
	step(t, ctx, "register", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#reg-user"), user),
		chromedp.SendKeys(chromedp.CSS("#reg-nick"), "Web "+user),
		chromedp.SendKeys(chromedp.CSS("#reg-pwd"), pwd),
		chromedp.SendKeys(chromedp.CSS("#reg-pwd2"), pwd),
		chromedp.SendKeys(chromedp.CSS("#reg-phone"), "13800138000"),
		chromedp.SendKeys(chromedp.CSS("#reg-email"), user+"@example.com"),
	)
	screenshot(t, ctx, art, "register.png")
	require.False(t, eval[bool](t, ctx, `(b => !!b && b.offsetParent !== null)(document.getElementById('logout-btn'))`),
		"the log-out button shows before logging in")
	step(t, ctx, "submit the registration", 20*time.Second,
		chromedp.Click(chromedp.CSS("#reg-btn")),
		chromedp.WaitVisible(chromedp.CSS("#login-btn")),
		until(`document.getElementById('login-msg').textContent.includes('Registered')`),
	)
	// The page fills the login form after registering.
	step(t, ctx, "log in", 20*time.Second,
		chromedp.Click(chromedp.CSS("#login-btn")),
		chromedp.WaitVisible(chromedp.CSS("#view-main")),
		until(`document.getElementById('whoami').textContent === `+jsString(user)),
		chromedp.WaitVisible(chromedp.CSS("#myfiles-empty")),
	)

	// Record every value the file's progress bar takes while uploading, then
	// upload (choosing the file starts it) with the browser's upload
	// throttled so that the bar moves in steps.
	throttle(t, ctx, 8<<20)
	step(t, ctx, "upload", 60*time.Second,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
				window.__progress = [];
				const orig = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value');
				Object.defineProperty(HTMLProgressElement.prototype, 'value', {
					configurable: true,
					get() { return orig.get.call(this); },
					set(v) {
						const li = this.closest('.upload-item');
						if (li && li.dataset.phase === 'uploading') window.__progress.push(Number(v));
						orig.set.call(this, v);
					}
				});
				return true;
			})()`))
			return err
		}),
		chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{src}),
		until(`document.getElementById('upload-status').textContent.startsWith('Uploaded')`),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", name))),
	)
	item := `document.querySelector('.upload-item[data-name=` + jsString(name) + `]')`
	require.Equal(t, "done", eval[string](t, ctx, item+`.dataset.phase`))
	require.Equal(t, 100.0, eval[float64](t, ctx, item+`.querySelector('progress').value`))
	steps := eval[[]float64](t, ctx, `window.__progress`)
	require.Contains(t, steps, 100.0, "the bar reached 100%%: %v", steps)
	t.Logf("progress bar values: %v", steps)
	between := 0
	for _, v := range steps {
		if v > 0 && v < 100 {
			between++
		}
	}
	require.NotZero(t, between, "the bar only jumped: %v", steps)
	throttle(t, ctx, -1)
	screenshot(t, ctx, art, "myfiles-uploaded.png")

	// The same file again: the page hashes it, /md5 knows it (005), and no
	// byte is sent.
	step(t, ctx, "upload again", 30*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{src}),
		until(`document.getElementById('upload-status').textContent.includes('already in your files')`),
	)
	require.Equal(t, 1, eval[int](t, ctx, `document.querySelectorAll('tr.file-row').length`))
	// Sorting by size keeps the list.
	step(t, ctx, "sort", 20*time.Second,
		chromedp.SetValue(chromedp.CSS("#sort"), "size-desc"),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('sort').dispatchEvent(new Event('change'))`))
			return err
		}),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", name))),
	)

	step(t, ctx, "share", 20*time.Second,
		clickWhenThere(rowSel("file-row", name)+" button.act-share"),
		until(`document.getElementById('myfiles-msg').textContent.startsWith('Shared')`),
		until(`(document.querySelector(`+jsString(rowSel("file-row", name)+" .badge")+`)||{}).textContent === 'shared'`),
	)
	step(t, ctx, "public list", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-share")),
		chromedp.WaitVisible(chromedp.CSS(rowSel("share-row", name))),
	)
	require.Equal(t, user, eval[string](t, ctx, `document.querySelector(`+jsString(rowSel("share-row", name))+`).children[1].textContent`))
	screenshot(t, ctx, art, "public-files.png")

	// Download from the public list: the page asks /download, follows the
	// link and reports the download; the ranking then shows 1.
	step(t, ctx, "download", 20*time.Second,
		clickWhenThere(rowSel("share-row", name)+" button.act-sdownload"),
		until(`document.getElementById('download-link').textContent === `+jsString(name)),
		until(`(document.querySelector(`+jsString(rowSel("share-row", name)+" .pv")+`)||{}).textContent === '1'`),
	)
	href := eval[string](t, ctx, `document.getElementById('download-link').href`)
	require.True(t, strings.HasPrefix(href, s.URL+"/group1/M00/"), "download link %q", href)
	resp, err := httpClient.Get(href)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, bytes.Equal(content, got), "downloaded bytes differ (%d vs %d bytes)", len(got), len(content))
	require.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")

	step(t, ctx, "ranking", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-rank")),
		chromedp.WaitVisible(chromedp.CSS(rowSel("rank-row", name))),
		until(`document.querySelector(`+jsString(rowSel("rank-row", name)+" .pv")+`).textContent === '1'`),
	)
	screenshot(t, ctx, art, "ranking.png")

	// Delete (two clicks: arm, confirm); the row and the public entry go.
	del := rowSel("file-row", name) + " button.act-del"
	step(t, ctx, "delete", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-myfiles")),
		chromedp.WaitVisible(chromedp.CSS(del)),
		// Arm, then confirm, in page-side steps: a list refresh may replace the
		// row (and disarm it) between the two clicks, in which case arm again.
		until(`(() => { const el = document.querySelector(`+jsString(del)+`); if (!el) return false;
			if (el.textContent === 'Confirm delete') { el.click(); return true }
			el.click(); return false })()`),
		chromedp.WaitNotPresent(chromedp.CSS(rowSel("file-row", name))),
		chromedp.WaitVisible(chromedp.CSS("#myfiles-empty")),
	)
	step(t, ctx, "public list after delete", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-share")),
		until(`!document.querySelector(`+jsString(rowSel("share-row", name))+`) && !!document.querySelector('#share-table, #share-empty')`),
	)
	screenshot(t, ctx, art, "after-delete.png")

	step(t, ctx, "log out", 20*time.Second,
		chromedp.Click(chromedp.CSS("#logout-btn")),
		chromedp.WaitVisible(chromedp.CSS("#login-btn")),
	)
}

// throttle limits the page's upload rate (bytes/s; -1 lifts the limit).
func throttle(t *testing.T, ctx context.Context, upload float64) {
	t.Helper()
	step(t, ctx, "throttle", 10*time.Second, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: -1, UploadThroughput: upload}},
		})
		if err == nil {
			return nil
		}
		// Older browsers: the deprecated command.
		type conditions struct {
			Offline            bool    `json:"offline"`
			Latency            float64 `json:"latency"`
			DownloadThroughput float64 `json:"downloadThroughput"`
			UploadThroughput   float64 `json:"uploadThroughput"`
		}
		_, err2 := chromedp.Call(ctx, cdp.Command[conditions, cdp.Empty]{Method: "Network.emulateNetworkConditions"},
			conditions{DownloadThroughput: -1, UploadThroughput: upload})
		if err2 != nil {
			return fmt.Errorf("%v; %v", err, err2)
		}
		return nil
	}))
}

// until waits for a JavaScript expression to be truthy (the step's
// deadline bounds it).
func until(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[any](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0))(ctx, t)
		return chromedp.Void{}, err
	}
}

// clickWhenThere clicks the element sel selects as soon as it exists, in
// one page-side step: the lists re-render after every refresh, so a node
// found by one DevTools call may be gone by the next (chromedp.Click).
func clickWhenThere(sel string) chromedp.Action[chromedp.Void] {
	return until(`(() => { const el = document.querySelector(` + jsString(sel) + `); if (!el || el.disabled) return false; el.click(); return true })()`)
}

// rowSel selects the table row of a file by name.
func rowSel(class, name string) string {
	return fmt.Sprintf(`tr.%s[data-name=%s]`, class, jsString(name))
}

// jsString quotes s for JavaScript and CSS attribute values.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\%x `, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
