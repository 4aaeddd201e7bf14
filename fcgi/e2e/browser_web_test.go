package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"yunpan/nginx"
)

// The web client's user paths in Chromium, on a phone-sized and a desktop
// window, in English and in Chinese: drag-and-drop uploads with the queue
// (one cancelled and retried, one too large), the list, share, download,
// delete, the URL, logout, and a second user in the same tab.

func TestBrowserWebPhone(t *testing.T)          { webFlow(t, 390, 844, "en") }
func TestBrowserWebDesktop(t *testing.T)        { webFlow(t, 1280, 800, "en") }
func TestBrowserWebChinese(t *testing.T)        { webFlow(t, 390, 844, "zh-CN") }
func TestBrowserWebChineseDesktop(t *testing.T) { webFlow(t, 1280, 800, "zh-CN") }

// webText is what the flow asserts of the page, per language.
var webText = map[string]map[string]string{
	"en": {"register": "Register", "files": "My files", "tooBig": "larger than", "uploaded": "Uploaded",
		"empty": "No files yet", "offline": "cannot be reached"},
	"zh-CN": {"register": "注册", "files": "我的文件", "tooBig": "超过", "uploaded": "已上传",
		"empty": "还没有文件", "offline": "无法连接服务器"},
}

// maxUpload is the page's file limit (html/js/upload.js, Nginx's 50m).
const maxUpload = 50 << 20

// patterned is the content of a file the page makes for a drop: byte i
// is (31·i + seed) mod 256 (seed < 0: zeros).
func patterned(n, seed int) []byte {
	b := make([]byte, n)
	if seed >= 0 {
		for i := range b {
			b[i] = byte(i*31 + seed)
		}
	}
	return b
}

type dropFile struct {
	Name string `json:"name"`
	Size int    `json:"size"`
	Seed int    `json:"seed"`
}

// drop makes the files in the page and drops them on it, as a drag from
// the desktop would (a DataTransfer in dragover and drop events).
func drop(t *testing.T, ctx context.Context, files ...dropFile) {
	t.Helper()
	b, _ := json.Marshal(files)
	require.True(t, eval[bool](t, ctx, `((files) => {
		const dt = new DataTransfer();
		for (const f of files) {
			const b = new Uint8Array(f.size);
			if (f.seed >= 0) for (let i = 0; i < b.length; i++) b[i] = (i * 31 + f.seed) & 255;
			dt.items.add(new File([b], f.name));
		}
		const target = document.querySelector('main');
		const opts = { dataTransfer: dt, bubbles: true, cancelable: true };
		target.dispatchEvent(new DragEvent('dragenter', opts));
		target.dispatchEvent(new DragEvent('dragover', opts));
		const ev = new DragEvent('drop', opts);
		target.dispatchEvent(ev);
		return ev.defaultPrevented;
	})(`+string(b)+`)`), "the page took the drop")
}

func itemSel(name string) string { return `.upload-item[data-name=` + jsString(name) + `]` }

func phaseIs(name, phase string) chromedp.Action[chromedp.Void] {
	return until(`(document.querySelector(` + jsString(itemSel(name)) + `) || {dataset: {}}).dataset.phase === ` + jsString(phase))
}

// press clicks the row's action with real mouse events (so that it takes
// the focus as a user's click does), opening the row's menu first when
// the window is narrow.
func press(t *testing.T, ctx context.Context, row, action string) {
	t.Helper()
	menu := row + " .menu-btn"
	if eval[bool](t, ctx, `(b => !!b && b.offsetParent !== null && b.getAttribute('aria-expanded') === 'false')(document.querySelector(`+jsString(menu)+`))`) {
		step(t, ctx, "open the menu of "+row, 10*time.Second, chromedp.Click(chromedp.CSS(menu)))
	}
	step(t, ctx, "press "+row+" "+action, 10*time.Second,
		chromedp.WaitVisible(chromedp.CSS(row+" "+action)),
		chromedp.Click(chromedp.CSS(row+" "+action)))
}

// focusedRow is the data-name of the table row holding the focus.
func focusedRow(t *testing.T, ctx context.Context) string {
	return eval[string](t, ctx, `(r => r ? r.dataset.name : 'focus on ' + document.activeElement.tagName + '#' + document.activeElement.id)(document.activeElement.closest('tr'))`)
}

func setLang(t *testing.T, ctx context.Context, lang string) {
	t.Helper()
	step(t, ctx, "language "+lang, 10*time.Second,
		chromedp.SetValue(chromedp.CSS("#lang"), lang),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('lang').dispatchEvent(new Event('change', {bubbles: true}))`))
			return err
		}),
		until(`document.documentElement.lang === `+jsString(lang)),
	)
}

// checkLayout asserts that nothing sticks out sideways and, on a narrow
// window, that every visible control is at least 44 px tall.
func checkLayout(t *testing.T, ctx context.Context, width int, where string) {
	t.Helper()
	require.Equal(t, width, eval[int](t, ctx, `window.innerWidth`), where)
	require.LessOrEqual(t, eval[int](t, ctx, `document.documentElement.scrollWidth`), width, "%s: the page scrolls sideways", where)
	if width < 720 {
		small := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('button, select, .button, a.tab, input:not(.vh-input)'))
			.filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
			.map(e => e.id || e.className || e.tagName)`)
		require.Empty(t, small, "%s: touch targets under 44 px", where)
	}
}

func webFlow(t *testing.T, width, height int, lang string) {
	// Chunked uploads take files up to max_chunked_upload_bytes: here the
	// same 50 MiB as /upload, so that huge.iso stays too large for both.
	s := StartStack(t, Options{Cfg: map[string]any{"max_chunked_upload_bytes": "50m"}})
	w := newWeb(t, s)
	ctx := newBrowserSized(t, width, height)
	art := artifacts(t)
	tx := webText[lang]
	shot := func(name string) { screenshot(t, ctx, art, fmt.Sprintf("web-%s-%d-%s.png", lang, width, name)) }
	logsOnFailure(t, s)
	sfx := suffix()
	user := "wf_" + sfx
	const pwd = "s3cret-pass"

	step(t, ctx, "open the register page", 20*time.Second,
		chromedp.Navigate(s.URL+"/#/register"), chromedp.WaitVisible(chromedp.CSS("#reg-btn")))
	if lang != "en" {
		setLang(t, ctx, lang)
	}
	require.Equal(t, tx["register"], eval[string](t, ctx, `document.querySelector('h1').textContent`))
	step(t, ctx, "register", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#reg-user"), user),
		chromedp.SendKeys(chromedp.CSS("#reg-nick"), "Web "+user),
		chromedp.SendKeys(chromedp.CSS("#reg-pwd"), pwd),
		chromedp.SendKeys(chromedp.CSS("#reg-pwd2"), pwd),
		chromedp.SendKeys(chromedp.CSS("#reg-phone"), "13800138000"),
		chromedp.SendKeys(chromedp.CSS("#reg-email"), user+"@example.com"),
	)
	checkLayout(t, ctx, width, "register")
	axeCheck(t, ctx, "register")
	shot("register")
	step(t, ctx, "submit the registration", 20*time.Second,
		chromedp.Click(chromedp.CSS("#reg-btn")),
		chromedp.WaitVisible(chromedp.CSS("#login-btn")),
		until(`document.getElementById('login-msg').classList.contains('ok')`),
	)
	step(t, ctx, "log in with the filled form", 20*time.Second,
		chromedp.Click(chromedp.CSS("#login-btn")),
		chromedp.WaitVisible(chromedp.CSS("#view-main")),
		until(`document.getElementById('whoami').textContent === `+jsString(user)),
		chromedp.WaitVisible(chromedp.CSS("#myfiles-empty")),
	)
	require.Contains(t, eval[string](t, ctx, `document.getElementById('myfiles-empty').textContent`), tx["empty"])
	require.Equal(t, tx["files"], eval[string](t, ctx, `document.getElementById('nav-myfiles').textContent`))
	require.Equal(t, "#/files", eval[string](t, ctx, `location.hash`))
	// No token where scripts can read it: only the HttpOnly cookie has it.
	require.Equal(t, 0, eval[int](t, ctx, `sessionStorage.length`))
	require.False(t, eval[bool](t, ctx, `/token=/.test(document.cookie) || Object.keys(localStorage).some(k => /token/i.test(k + localStorage.getItem(k)))`))
	checkLayout(t, ctx, width, "empty list")
	axeCheck(t, ctx, "empty list")
	shot("empty")

	// Four files dropped at once, uploaded one after the other with the
	// upload throttled: the first lands (and shows in the list) while the
	// second is still sending; that one is cancelled, the too-large one is
	// refused before it is hashed.
	notes, movie, photo, huge := dropFile{"notes.txt", 20000, 1}, dropFile{"movie.bin", 3 << 20, 2},
		dropFile{"photo one.jpg", 40000, 3}, dropFile{"huge.iso", maxUpload + 1, -1}
	throttle(t, ctx, 512<<10)
	drop(t, ctx, notes, movie, photo, huge)
	step(t, ctx, "the first file lands while the second uploads", 60*time.Second,
		phaseIs(movie.Name, "uploading"),
		until(`!!document.querySelector(`+jsString(rowSel("file-row", notes.Name))+`) && document.querySelector(`+jsString(itemSel(movie.Name))+`).dataset.phase === 'uploading'`),
	)
	require.Equal(t, 4, eval[int](t, ctx, `document.querySelectorAll('.upload-item').length`), "every dropped file is listed")
	step(t, ctx, "speed and time left", 20*time.Second,
		until(`/\d/.test(document.querySelector(`+jsString(itemSel(movie.Name)+" .up-rate")+`).textContent)`))
	checkLayout(t, ctx, width, "uploading")
	shot("uploading")
	step(t, ctx, "cancel the second", 20*time.Second,
		chromedp.Click(chromedp.CSS(itemSel(movie.Name)+" .up-cancel")),
		phaseIs(movie.Name, "cancelled"),
		// Cancel became Retry, and the focus went with it.
		until(`document.activeElement.matches(`+jsString(itemSel(movie.Name)+" .up-retry")+`)`),
		phaseIs(photo.Name, "done"),
		phaseIs(huge.Name, "failed"),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", photo.Name))),
	)
	require.Contains(t, eval[string](t, ctx, `document.querySelector(`+jsString(itemSel(huge.Name)+" .up-error")+`).textContent`), tx["tooBig"])
	require.False(t, eval[bool](t, ctx, `!!document.querySelector(`+jsString(itemSel(huge.Name)+" .up-retry")+`)`), "a too-large file has no retry")
	require.Equal(t, 0.0, eval[float64](t, ctx, `document.querySelector(`+jsString(itemSel(huge.Name)+" progress")+`).value`), "the too-large file was not hashed")
	require.False(t, eval[bool](t, ctx, `!!document.querySelector(`+jsString(rowSel("file-row", movie.Name))+`)`), "the cancelled file is not stored")
	throttle(t, ctx, -1)
	step(t, ctx, "retry the cancelled one", 60*time.Second,
		chromedp.Click(chromedp.CSS(itemSel(movie.Name)+" .up-retry")),
		phaseIs(movie.Name, "done"),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", movie.Name))),
		until(`document.getElementById('upload-status').textContent.includes(`+jsString(tx["uploaded"])+`)`),
	)
	checkLayout(t, ctx, width, "uploaded")
	axeCheck(t, ctx, "list and upload queue")
	shot("uploaded")
	// The narrowest phone and a wide screen hold the same page.
	for _, size := range [][2]int{{360, 740}, {1920, 1080}} {
		step(t, ctx, fmt.Sprintf("resize to %d", size[0]), 10*time.Second,
			chromedp.EmulateViewport(int64(size[0]), int64(size[1])))
		checkLayout(t, ctx, size[0], fmt.Sprintf("the list at %d px", size[0]))
		shot(fmt.Sprintf("uploaded-at-%d", size[0]))
	}
	step(t, ctx, "size back", 10*time.Second, chromedp.EmulateViewport(int64(width), int64(height)))

	// Share with a real click: the focus stays on the row.
	press(t, ctx, rowSel("file-row", notes.Name), "button.act-share")
	step(t, ctx, "shared", 20*time.Second,
		until(`(document.querySelector(`+jsString(rowSel("file-row", notes.Name)+" .badge")+`) || {dataset: {}}).dataset.shared === '1'`))
	step(t, ctx, "focus on the shared row", 10*time.Second,
		until(`(document.activeElement.closest('tr') || {dataset: {}}).dataset.name === `+jsString(notes.Name)))
	shot("shared")

	// Download: the page follows the signed link; the bytes are the file's.
	press(t, ctx, rowSel("file-row", notes.Name), "button.act-download")
	step(t, ctx, "download", 20*time.Second,
		until(`document.getElementById('download-link').textContent === `+jsString(notes.Name)),
		until(`(document.querySelector(`+jsString(rowSel("file-row", notes.Name)+" .pv")+`) || {}).textContent === '1'`))
	href := eval[string](t, ctx, `document.getElementById('download-link').href`)
	resp, err := httpClient.Get(href)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, bytes.Equal(patterned(notes.Size, notes.Seed), got), "downloaded bytes differ")

	// Delete (arm, confirm): the focus moves to the row that took its place.
	press(t, ctx, rowSel("file-row", photo.Name), "button.act-del")
	require.Equal(t, "1", eval[string](t, ctx, `document.querySelector(`+jsString(rowSel("file-row", photo.Name)+" button.act-del")+`).dataset.armed`))
	press(t, ctx, rowSel("file-row", photo.Name), "button.act-del")
	step(t, ctx, "deleted", 20*time.Second,
		chromedp.WaitNotPresent(chromedp.CSS(rowSel("file-row", photo.Name))),
		until(`!!document.activeElement.closest('tr.file-row')`))
	require.NotEqual(t, photo.Name, focusedRow(t, ctx))

	// The URL follows the tabs; back, forward and reload keep the place.
	step(t, ctx, "public files", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-share")),
		until(`location.hash === '#/share'`),
		chromedp.WaitVisible(chromedp.CSS(rowSel("share-row", notes.Name))))
	checkLayout(t, ctx, width, "public files")
	axeCheck(t, ctx, "public files")
	shot("public")
	step(t, ctx, "back", 20*time.Second,
		chromedp.NavigateBack(),
		until(`location.hash === '#/files'`),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", notes.Name))))
	step(t, ctx, "forward and reload", 30*time.Second,
		chromedp.NavigateForward(),
		until(`location.hash === '#/share'`),
		chromedp.Reload(),
		until(`!!document.getElementById('whoami') && document.getElementById('whoami').textContent === `+jsString(user)),
		chromedp.WaitVisible(chromedp.CSS(rowSel("share-row", notes.Name))))
	step(t, ctx, "sorted by name from Z, in the URL", 20*time.Second,
		chromedp.Navigate(s.URL+"/#/files?sort=name-desc"),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", notes.Name))))
	require.Equal(t, "name-desc", eval[string](t, ctx, `document.getElementById('sort').value`))
	require.Equal(t, notes.Name, eval[string](t, ctx, `document.querySelector('tr.file-row').dataset.name`), "notes.txt before movie.bin")
	step(t, ctx, "transfers", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-transfer")),
		chromedp.WaitVisible(chromedp.CSS("#transfer-log li")))

	// Log out; the next user in this tab sees nothing of the first one,
	// not even for a moment.
	step(t, ctx, "log out", 20*time.Second,
		chromedp.Click(chromedp.CSS("#logout-btn")),
		chromedp.WaitVisible(chromedp.CSS("#login-btn")))
	require.Equal(t, "#/transfers", eval[string](t, ctx, `location.hash`), "the page stays in the URL")
	require.Equal(t, 0, eval[int](t, ctx, `document.querySelectorAll('tr.file-row, .upload-item, #transfer-log li').length`))
	other := w.register("wf2_"+sfx, "other-pass")
	require.True(t, eval[bool](t, ctx, `(() => {
		window.__leak = [];
		const look = () => document.querySelectorAll('tr.file-row, tr.share-row[data-name="movie.bin"], .upload-item, #transfer-log li')
			.forEach(e => window.__leak.push(e.textContent));
		new MutationObserver(look).observe(document.body, { subtree: true, childList: true, characterData: true });
		return true;
	})()`))
	step(t, ctx, "second user", 30*time.Second,
		chromedp.SendKeys(chromedp.CSS("#login-user"), other.name),
		chromedp.SendKeys(chromedp.CSS("#login-pwd"), "other-pass"),
		chromedp.Click(chromedp.CSS("#login-btn")),
		until(`!!document.getElementById('whoami') && document.getElementById('whoami').textContent === `+jsString(other.name)),
		chromedp.WaitVisible(chromedp.CSS(".tabpane .state.empty")))
	step(t, ctx, "second user's files", 30*time.Second,
		chromedp.Click(chromedp.CSS("#nav-myfiles")),
		chromedp.WaitVisible(chromedp.CSS("#myfiles-empty")))
	require.Empty(t, eval[[]string](t, ctx, `window.__leak`), "the second user saw the first one's data")
	shot("second-user")
}

// TestBrowserWebKeyboard uploads and shares with the keyboard alone: Tab
// reaches the file input, Space opens the chooser, and after sharing
// with Enter the focus is still on that row.
func TestBrowserWebKeyboard(t *testing.T) {
	s := StartStack(t, Options{})
	w := newWeb(t, s)
	ctx := newBrowserSized(t, 1280, 800)
	const pwd = "key-board-pw"
	a := w.register("kb_"+suffix(), pwd)
	logIn(t, ctx, s.URL, a.name, pwd)
	step(t, ctx, "empty list", 20*time.Second, chromedp.WaitVisible(chromedp.CSS("#myfiles-empty")))

	name := "typed report.txt"
	content := patterned(70000, 7)
	src := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(src, content, 0o644))

	_, err := chromedp.Call(ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true})
	require.NoError(t, err)
	eval[bool](t, ctx, `(document.activeElement && document.activeElement.blur(), true)`)
	var path []string
	for i := 0; i < 30; i++ {
		step(t, ctx, "tab", 5*time.Second, chromedp.KeyEvent(kb.Tab))
		id := eval[string](t, ctx, `document.activeElement.id || document.activeElement.className || document.activeElement.tagName`)
		path = append(path, id)
		if id == "upload-file" {
			break
		}
	}
	require.Equal(t, "upload-file", path[len(path)-1], "Tab never reached the file input: %v", path)
	t.Logf("tab order: %v", path)
	// The input is hidden from sight, not from the keyboard; its label
	// shows the focus.
	require.Equal(t, "solid", eval[string](t, ctx, `getComputedStyle(document.getElementById('upload-btn')).outlineStyle`))

	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	ev, err := chromedp.Run(sctx, chromedp.WaitEvent(page.FileChooserOpened, nil, chromedp.KeyEvent(" ")))
	cancel()
	require.NoError(t, err, "Space on the file input opens the chooser")
	_, err = chromedp.Call(ctx, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: []string{src}, BackendNodeID: ev.BackendNodeID})
	require.NoError(t, err)
	step(t, ctx, "uploaded", 60*time.Second,
		phaseIs(name, "done"),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", name))))
	require.Contains(t, eval[string](t, ctx, `document.getElementById('upload-status').textContent`), "Uploaded")
	require.Equal(t, "upload-file", eval[string](t, ctx, `document.activeElement.id`), "the focus stays on the input")
	require.Equal(t, "status", eval[string](t, ctx, `document.getElementById('upload-status').getAttribute('role')`))

	// On to the row's Share button with Tab, then Enter.
	for i := 0; i < 40 && eval[string](t, ctx, `document.activeElement.className`) != "act-share light"; i++ {
		step(t, ctx, "tab", 5*time.Second, chromedp.KeyEvent(kb.Tab))
	}
	require.Equal(t, name, focusedRow(t, ctx))
	step(t, ctx, "share with Enter", 20*time.Second,
		chromedp.KeyEvent(kb.Enter),
		until(`(document.querySelector(`+jsString(rowSel("file-row", name)+" .badge")+`) || {dataset: {}}).dataset.shared === '1'`),
		until(`(document.activeElement.closest('tr') || {dataset: {}}).dataset.name === `+jsString(name)))
	require.Equal(t, "true", eval[string](t, ctx, `String(document.activeElement.matches(':focus-visible'))`), "the focus is visible")
}

// TestBrowserWebServerDown stops Nginx in the middle of a session: the
// page says so in words (no "TypeError: Failed to fetch"), an upload fails
// with the same words, and both work again once Nginx is back.
func TestBrowserWebServerDown(t *testing.T) {
	s := StartStack(t, Options{})
	w := newWeb(t, s)
	ctx := newBrowserSized(t, 1280, 800)
	art := artifacts(t)
	const pwd = "down-time-pw"
	a := w.register("down_"+suffix(), pwd)
	logIn(t, ctx, s.URL, a.name, pwd)
	step(t, ctx, "empty list", 20*time.Second, chromedp.WaitVisible(chromedp.CSS("#myfiles-empty")))
	name := "while down.txt"
	src := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(src, patterned(5000, 9), 0o644))

	s.nginx.stop(syscall.SIGTERM, 10*time.Second)
	httpClient.CloseIdleConnections()
	step(t, ctx, "refresh while down", 30*time.Second,
		chromedp.Click(chromedp.CSS("#refresh-btn")),
		chromedp.WaitVisible(chromedp.CSS(".tabpane .state.err")))
	msg := eval[string](t, ctx, `document.querySelector('.tabpane .state.err').textContent`)
	require.Contains(t, msg, webText["en"]["offline"])
	require.NotContains(t, msg, "TypeError")
	step(t, ctx, "upload while down", 30*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{src}),
		phaseIs(name, "failed"))
	require.Contains(t, eval[string](t, ctx, `document.querySelector(`+jsString(itemSel(name)+" .up-error")+`).textContent`), webText["en"]["offline"])
	require.Equal(t, "alert", eval[string](t, ctx, `document.querySelector('.tabpane .state.err').getAttribute('role')`))
	screenshot(t, ctx, art, "web-server-down.png")

	s.nginx = startProc(t, "nginx", nil, lookSys("nginx"), nginx.Args(s.NginxDir)...)
	require.NoError(t, waitPort(s.Addr, 15*time.Second, s.nginx))
	step(t, ctx, "the list again", 30*time.Second,
		chromedp.Click(chromedp.CSS(".tabpane .state.err button")),
		chromedp.WaitVisible(chromedp.CSS("#myfiles-empty")))
	step(t, ctx, "retry the upload", 30*time.Second,
		chromedp.Click(chromedp.CSS(itemSel(name)+" .up-retry")),
		phaseIs(name, "done"),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", name))))
	require.False(t, strings.Contains(eval[string](t, ctx, `document.body.textContent`), "TypeError"))
}

// axeCheck runs axe-core (testdata, evaluated through DevTools, so the
// page's CSP does not apply to it) on the page against the WCAG 2.1 A and
// AA rules and fails on a serious or critical violation.
func axeCheck(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	if !eval[bool](t, ctx, `typeof window.axe === 'object'`) {
		src, err := os.ReadFile(filepath.Join("testdata", "axe-core-4.14.1", "axe.min.js"))
		require.NoError(t, err)
		eval[any](t, ctx, string(src)+"\n;true")
	}
	res := eval[struct {
		Passes int
		Found  []string
	}](t, ctx, `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
		.then(r => ({ Passes: r.passes.length, Found: r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
			.map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).slice(0, 5).join(', ')) }))`)
	require.Empty(t, res.Found, "accessibility violations on %s", where)
	require.NotZero(t, res.Passes, "axe checked nothing on %s", where)
	t.Logf("axe: %d rules pass on %s", res.Passes, where)
}

// TestBrowserWebSessionEnds: a token that stops working (revoked by a
// logout elsewhere) sends the page back to the login form with a sentence,
// every list gone and the URL kept; logging in again comes back there.
func TestBrowserWebSessionEnds(t *testing.T) {
	s := StartStack(t, Options{})
	w := newWeb(t, s)
	ctx := newBrowserSized(t, 1280, 800)
	const pwd = "session-pw-1"
	a := w.login(w.register("se_"+suffix(), pwd))
	w.check(w.upload(a, "kept.txt", []byte("kept file")), "008", "upload")
	logIn(t, ctx, s.URL, a.name, pwd)
	step(t, ctx, "sorted list", 20*time.Second,
		chromedp.Navigate(s.URL+"/#/files?sort=time-desc"),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", "kept.txt"))))

	// The browser's own token (HttpOnly: only DevTools can read it) is
	// revoked by a logout from another client.
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{s.URL}})
	require.NoError(t, err)
	var token string
	for _, c := range cookies.Cookies {
		if c.Name == "token" {
			token = c.Value
			require.True(t, c.HTTPOnly)
		}
	}
	require.NotEmpty(t, token)
	w.check(w.post("/logout", map[string]any{"user": a.name, "token": token}), "023", "logout elsewhere")

	step(t, ctx, "refresh with a dead token", 20*time.Second,
		chromedp.Click(chromedp.CSS("#refresh-btn")),
		chromedp.WaitVisible(chromedp.CSS("#login-btn")),
		until(`document.getElementById('login-msg').textContent.includes('session has ended')`))
	require.Equal(t, "#/files?sort=time-desc", eval[string](t, ctx, `location.hash`))
	require.Equal(t, 0, eval[int](t, ctx, `document.querySelectorAll('tr.file-row').length`))
	step(t, ctx, "log in again", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#login-user"), a.name),
		chromedp.SendKeys(chromedp.CSS("#login-pwd"), pwd),
		chromedp.Click(chromedp.CSS("#login-btn")),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", "kept.txt"))))
	require.Equal(t, "time-desc", eval[string](t, ctx, `document.getElementById('sort').value`))
}

// TestBrowserWebStaleAnswers: of two loads of one list, only the later
// one's answer shows, whichever comes back first; an answer from before a
// sign-out never shows. The page's own modules, on a static server.
func TestBrowserWebStaleAnswers(t *testing.T) {
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(repoRoot, "html"))))
	defer srv.Close()
	ctx := newBrowser(t)
	step(t, ctx, "open page", 20*time.Second, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login-btn")))
	got := eval[[]string](t, ctx, `(async () => {
		const data = await import('/js/data.js');
		const store = await import('/js/store.js');
		const later = (v, ms) => () => new Promise(r => setTimeout(() => r({ files: [v] }), ms));
		const seen = [];
		const a = data.load('t', later('first, slow', 300));
		const b = data.load('t', later('second, fast', 10));
		await Promise.all([a, b]);
		seen.push(store.state.lists.t.data.files[0]);
		const c = data.load('t', later('before sign-out', 100));
		store.newEpoch();
		await c;
		seen.push(store.state.lists.t.data.files[0]);
		return seen;
	})()`)
	require.Equal(t, []string{"second, fast", "second, fast"}, got)
}

// TestBrowserWebLanguage: the language follows the browser's (Chinese
// here) until the switch picks another, which a reload keeps.
func TestBrowserWebLanguage(t *testing.T) {
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(repoRoot, "html"))))
	defer srv.Close()
	ctx := newBrowserOpts(t, 1280, 800, chromedp.Flag("lang", "zh-CN"), chromedp.Flag("accept-lang", "zh-CN,zh"))
	step(t, ctx, "open page", 20*time.Second, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login-btn")))
	require.Equal(t, "zh-CN", eval[string](t, ctx, `navigator.language`))
	require.Equal(t, "登录", eval[string](t, ctx, `document.getElementById('login-btn').textContent`))
	require.Equal(t, "zh-CN", eval[string](t, ctx, `document.documentElement.lang`))
	axeCheck(t, ctx, "the login page")
	setLang(t, ctx, "en")
	step(t, ctx, "reload", 20*time.Second, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#login-btn")))
	require.Equal(t, "Log in", eval[string](t, ctx, `document.getElementById('login-btn').textContent`))
	// Sizes and dates in the locale's format.
	require.Equal(t, []string{"1.5 MB", "1.5 MB"}, eval[[]string](t, ctx, `(async () => {
		const i = await import('/js/i18n.js');
		const en = i.fmtSize(1500000);
		i.setLang('zh-CN');
		return [en, i.fmtSize(1500000)];
	})()`))
	require.Contains(t, eval[string](t, ctx, `import('/js/i18n.js').then(i => i.fmtDate('2024-03-05 14:07:00'))`), "2024年3月5日")
}

// TestBrowserWebErrorWords: what the page says for the answers that are
// not the endpoint's own (Nginx's 502 body, a proxy's HTML error page, a
// panic's 500, a dead token), from its own api module.
func TestBrowserWebErrorWords(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(filepath.Join(repoRoot, "html"))))
	answer := func(status int, ctype, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	mux.Handle("/busy", answer(502, "application/json", `{"code":"502","msg":"service unavailable, try again later"}`))
	mux.Handle("/proxy", answer(503, "text/html", "<html><body>503 Service Unavailable</body></html>"))
	mux.Handle("/panic", answer(500, "application/json", `{"code":"500","msg":"internal error"}`))
	mux.Handle("/expired", answer(401, "application/json", `{"code":"111","msg":"token missing or invalid"}`))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := newBrowser(t)
	step(t, ctx, "open page", 20*time.Second, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login-btn")))
	got := eval[[]string](t, ctx, `(async () => {
		const api = await import('/js/api.js');
		const out = [];
		for (const p of ['/busy', '/proxy', '/panic', '/expired']) {
			try { await api.call(p, {}); out.push(p + ': no error'); } catch (e) { out.push(api.humanError(e)); }
		}
		return out;
	})()`)
	require.Equal(t, []string{
		"The server is busy or restarting: try again in a moment.",
		"The server is busy or restarting: try again in a moment.",
		"The server had a problem: try again later.",
		"Your session has ended: please log in again.",
	}, got)
	// The 111 signed the page out: the login form says why.
	step(t, ctx, "signed out", 10*time.Second,
		until(`document.getElementById('login-msg').textContent.includes('session has ended')`))
}
