package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// TestBrowserShareLink: the owner makes a link with an extraction code in
// the share-link dialog; a fresh browser that is not logged in opens it,
// is refused a wrong code, downloads the file with the right one byte for
// byte; the owner sees the download in "My links" and revokes the link,
// after which the landing page and the old download address refuse. Then
// a folder link made on a folder's row, in Chinese: the guest gives its code, goes into a
// subfolder by keyboard, downloads a file there byte for byte and climbs
// back by the breadcrumbs, which never show what is above the shared folder.
func TestBrowserShareLink(t *testing.T) {
	s := StartStack(t, Options{})
	w := newWeb(t, s)
	ctx := newBrowserSized(t, 1280, 800)
	art := artifacts(t)
	logsOnFailure(t, s)
	const pwd = "link-owner-pw"
	a := w.login(w.register("ln_"+suffix(), pwd))
	name := "shared report.html"
	content := patterned(150000, 5)
	w.check(w.upload(a, name, content), "008", "upload")
	logIn(t, ctx, s.URL, a.name, pwd)
	step(t, ctx, "the file", 20*time.Second, chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", name))))

	// The dialog: a code of one's own, the default expiry.
	press(t, ctx, rowSel("file-row", name), "button.act-link")
	step(t, ctx, "the dialog opens", 10*time.Second,
		until(`document.getElementById('link-dialog').open && document.getElementById('link-dialog').contains(document.activeElement)`))
	step(t, ctx, "a code of one's own", 10*time.Second,
		chromedp.Click(chromedp.CSS(`#link-dialog input[value="custom"]`)),
		until(`!document.getElementById('link-custom').disabled`),
		chromedp.SendKeys(chromedp.CSS("#link-custom"), "Ab12"))
	require.Equal(t, "7", eval[string](t, ctx, `document.getElementById('link-expiry').value`))
	axeCheck(t, ctx, "the share-link dialog")
	screenshot(t, ctx, art, "link-dialog.png")
	step(t, ctx, "create the link", 20*time.Second,
		chromedp.Click(chromedp.CSS("#link-create")),
		chromedp.WaitVisible(chromedp.CSS("#link-url")),
		until(`document.activeElement.id === 'link-url'`))
	url := eval[string](t, ctx, `document.getElementById('link-url').value`)
	require.Regexp(t, `^`+s.URL+`/#/s/[A-Za-z0-9_-]{22}$`, url)
	require.Equal(t, "ab12", eval[string](t, ctx, `document.getElementById('link-code').value`))
	step(t, ctx, "copy the link", 10*time.Second,
		chromedp.Click(chromedp.CSS("#link-url-copy")),
		until(`/Copied|Copying failed/.test(document.getElementById('link-msg').textContent)`))
	axeCheck(t, ctx, "the link made")
	screenshot(t, ctx, art, "link-made.png")
	step(t, ctx, "Escape closes the dialog, the focus goes back", 10*time.Second,
		chromedp.KeyEvent(kb.Escape),
		until(`!document.getElementById('link-dialog').open`),
		until(`document.activeElement.matches('button.act-link')`))

	// A fresh browser, not logged in, on a phone.
	guest := newBrowserSized(t, 390, 844)
	step(t, guest, "open the link", 30*time.Second,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#landing-code")))
	require.Equal(t, name, eval[string](t, guest, `document.getElementById('landing-name').textContent`))
	require.Equal(t, "nick "+a.name, eval[string](t, guest, `document.getElementById('landing-owner').textContent`))
	require.False(t, eval[bool](t, guest, `!!document.getElementById('whoami')`), "the guest is not logged in")
	require.False(t, eval[bool](t, guest, `/[0-9a-f]{32}|group1/.test(document.body.innerHTML)`), "no md5 or file ID on the page")
	axeCheck(t, guest, "the landing page")
	screenshot(t, guest, art, "link-landing.png")
	step(t, guest, "a wrong code", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#landing-code"), "zz99"),
		chromedp.Click(chromedp.CSS("#landing-btn")),
		until(`document.getElementById('landing-msg').classList.contains('err') && /Wrong/.test(document.getElementById('landing-msg').textContent)`),
		until(`document.activeElement.id === 'landing-code'`))
	require.False(t, eval[bool](t, guest, `!!document.getElementById('landing-dl')`))
	screenshot(t, guest, art, "link-wrong-code.png")
	require.Equal(t, "zz99", eval[string](t, guest, `(f => f.value.substring(f.selectionStart, f.selectionEnd))(document.getElementById('landing-code'))`),
		"the wrong code is selected, to be typed over")
	step(t, guest, "the right code, in capitals", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#landing-code"), "AB12"),
		chromedp.Click(chromedp.CSS("#landing-btn")),
		chromedp.WaitVisible(chromedp.CSS("#landing-dl")))
	href := eval[string](t, guest, `document.getElementById('landing-dl').href`)
	require.True(t, strings.HasPrefix(href, s.URL+"/link?cmd=download&t="), href)
	get := func(u string) (*http.Response, []byte) {
		resp, err := httpClient.Get(u)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		return resp, b
	}
	resp, got := get(href)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, bytes.Equal(content, got), "downloaded bytes differ (%d vs %d bytes)", len(got), len(content))
	require.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")
	require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	screenshot(t, guest, art, "link-downloaded.png")

	// The owner's list counts the download; revoke (arm, confirm).
	step(t, ctx, "my links", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-links")),
		until(`location.hash === '#/links'`),
		until(`(document.querySelector(`+jsString(`tr.link-row[data-name=`+jsString(name)+`] .pv`)+`) || {}).textContent === '1'`))
	axeCheck(t, ctx, "my links")
	screenshot(t, ctx, art, "link-list.png")
	row := `tr.link-row[data-name=` + jsString(name) + `]`
	press(t, ctx, row, "button.act-revoke")
	press(t, ctx, row, "button.act-revoke")
	step(t, ctx, "revoked", 20*time.Second,
		until(`(document.querySelector(`+jsString(row)+`) || {dataset: {}}).dataset.state === 'revoked'`))
	screenshot(t, ctx, art, "link-revoked.png")

	step(t, guest, "the landing page refuses", 20*time.Second,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#landing-gone")))
	screenshot(t, guest, art, "link-gone.png")
	setLang(t, guest, "zh-CN")
	require.Contains(t, eval[string](t, guest, `document.getElementById('landing-gone').textContent`), "链接不存在")
	axeCheck(t, guest, "the landing page of a dead link, in Chinese")
	screenshot(t, guest, art, "link-gone-zh.png")
	resp, got = get(href)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", got)
	require.Contains(t, string(got), `"code":"067"`)

	// A folder link: /outer/album/{top.txt, inner/{deep.bin}}.
	mkdir := func(parent any, name string) any {
		r := w.expect("032", "/files?cmd=mkdir", a.body("folder_id", parent, "name", name))
		return r.obj["item"].(map[string]any)["id"]
	}
	outer := mkdir(0, "outer")
	album := mkdir(outer, "album")
	inner := mkdir(album, "inner")
	deep := patterned(70000, 9)
	w.check(w.upload(a, "top.txt", []byte("top"), "folder_id", fmt.Sprint(album)), "008", "upload top.txt")
	w.check(w.upload(a, "deep.bin", deep, "folder_id", fmt.Sprint(inner)), "008", "upload deep.bin")
	// The owner makes it with "Share link" on the folder's row (a random code).
	step(t, ctx, "the folder's row", 20*time.Second,
		chromedp.Navigate(s.URL+"/#/files?folder="+fmt.Sprint(outer)),
		chromedp.WaitVisible(chromedp.CSS(rowSel("folder-row", "album"))))
	press(t, ctx, rowSel("folder-row", "album"), "button.act-link")
	step(t, ctx, "the dialog makes a folder link", 20*time.Second,
		until(`document.getElementById('link-dialog').open`),
		chromedp.Click(chromedp.CSS("#link-create")),
		chromedp.WaitVisible(chromedp.CSS("#link-url")))
	folderURL := eval[string](t, ctx, `document.getElementById('link-url').value`)
	code := eval[string](t, ctx, `document.getElementById('link-code').value`)
	require.Regexp(t, `^[a-z0-9]{4}$`, code)
	step(t, ctx, "close the dialog", 10*time.Second, chromedp.KeyEvent(kb.Escape), until(`!document.getElementById('link-dialog').open`))
	step(t, guest, "open the folder link", 30*time.Second,
		chromedp.Navigate(folderURL),
		chromedp.WaitVisible(chromedp.CSS("#landing-code")))
	require.Equal(t, "分享的文件夹", eval[string](t, guest, `document.getElementById('landing-h').textContent`))
	require.Equal(t, "album", eval[string](t, guest, `document.getElementById('landing-name').textContent`))
	step(t, guest, "the code, by keyboard", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#landing-code"), code),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#shared-table")),
		until(`document.activeElement.id === 'shared-h'`))
	names := `Array.from(document.querySelectorAll('tr.shared-row')).map(r => r.dataset.name).join('/')`
	crumbs := `Array.from(document.querySelectorAll('#shared-crumbs li')).map(li => li.textContent).join('/')`
	require.Equal(t, "inner/top.txt", eval[string](t, guest, names), "folders first")
	require.Equal(t, "", eval[string](t, guest, crumbs), "no breadcrumbs in the shared folder itself")
	require.Equal(t, "album", eval[string](t, guest, `document.getElementById('shared-h').textContent`))
	require.False(t, eval[bool](t, guest, `/[0-9a-f]{32}|group1/.test(document.body.innerHTML)`), "no md5 or file ID on the page")
	axeCheck(t, guest, "a shared folder, in Chinese")
	screenshot(t, guest, art, "link-folder.png")
	eval[bool](t, guest, `(a => { a.focus(); return true; })(document.querySelector('tr.shared-row[data-name="inner"] a.open-folder'))`)
	step(t, guest, "into the subfolder, by keyboard", 20*time.Second,
		chromedp.KeyEvent(kb.Enter),
		until(`document.querySelectorAll('#shared-crumbs li').length === 2 && !!document.querySelector('tr.shared-row[data-name="deep.bin"]')`),
		until(`document.activeElement.id === 'shared-h' && document.activeElement.textContent === 'inner'`))
	require.Equal(t, "album/inner", eval[string](t, guest, crumbs), "nothing above the shared folder")
	require.Equal(t, "下载 deep.bin", eval[string](t, guest, `document.querySelector('tr.shared-row[data-name="deep.bin"] a.act-download').getAttribute('aria-label')`))
	axeCheck(t, guest, "a shared subfolder")
	screenshot(t, guest, art, "link-subfolder.png")
	href = eval[string](t, guest, `document.querySelector('tr.shared-row[data-name="deep.bin"] a.act-download').href`)
	require.True(t, strings.HasPrefix(href, s.URL+"/link?cmd=download&t="), href)
	resp, got = get(href)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", got)
	require.True(t, bytes.Equal(deep, got), "downloaded bytes differ (%d vs %d bytes)", len(got), len(deep))
	require.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")
	step(t, guest, "back up by the breadcrumbs", 20*time.Second,
		chromedp.Click(chromedp.CSS("#shared-crumbs a.crumb")),
		until(`!document.getElementById('shared-crumbs') && !!document.querySelector('tr.shared-row[data-name="top.txt"]')`),
		until(`document.activeElement.id === 'shared-h' && document.activeElement.textContent === 'album'`))
}
