package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"yunpan/internal/thumb/thumbtest"
)

// toneWAV is a mono 16-bit PCM WAV file of a 440 Hz tone, secs long.
func toneWAV(secs float64) []byte {
	const rate = 8000
	n := int(secs * rate)
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(1)) // mono
	le(uint32(rate))
	le(uint32(2 * rate)) // bytes a second
	le(uint16(2))        // bytes a frame
	le(uint16(16))       // bits a sample
	b.WriteString("data")
	le(uint32(2 * n))
	for i := range n {
		le(int16(8000 * math.Sin(2*math.Pi*440*float64(i)/rate)))
	}
	return b.Bytes()
}

// TestBrowserGallery: the Images tab shows an uploaded JPEG's thumbnail
// (a placeholder until it is made); its preview is a labelled modal
// dialog with the 800 thumbnail that Escape closes, the focus back on the
// tile; shared from the dialog, the image offers a Markdown snippet whose
// URL serves the JPEG to anyone. From My files, a WAV previews as an
// <audio> element that loads (duration > 0) and a text file as text in a
// <pre>, never as HTML; other files offer no preview. axe on the gallery
// and on the open dialog, in both languages.
func TestBrowserGallery(t *testing.T) {
	s := StartStack(t, Options{})
	w := newWeb(t, s)
	ctx := newBrowserSized(t, 1280, 800)
	art := artifacts(t)
	defer func() {
		if t.Failed() {
			t.Logf("stack logs:\n%s", tail(s.Logs(), 6000))
			sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			d, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`(d => 'dialog open=' + d.open + ', focus on ' +
				document.activeElement.tagName + '#' + document.activeElement.id + '.' + document.activeElement.className +
				', body: ' + d.querySelector('.pv-body').innerHTML.slice(0, 300))(document.getElementById('preview-dialog'))`))
			t.Logf("preview: %s", d)
		}
	}()
	const pwd = "gallery-pw-1"
	a := w.login(w.register("gl_"+suffix(), pwd))
	jpg := thumbtest.JPEG(600, 300, 0)
	const photo, tone, notes, doc, blob = "holiday [1].jpg", "tone.wav", "notes.txt", "paper.pdf", "data.bin"
	// clip.webm: 1.5 s of VP8 at 64x48, 5 KB, made with
	// ffmpeg -f lavfi -i testsrc=size=64x48:rate=10:duration=1.5 -c:v libvpx -b:v 40k -an clip.webm
	const clip = "clip.webm"
	webm, err := os.ReadFile(filepath.Join("testdata", clip))
	require.NoError(t, err)
	const broken = "broken.png" // a PNG's name, not its bytes: no thumbnail
	text := "first line\n<b>not bold</b> & <img src=x onerror=alert(1)>\n"
	pdf := []byte("%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj " +
		"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
	for name, b := range map[string][]byte{photo: jpg, tone: toneWAV(1), clip: webm, notes: []byte(text), doc: pdf, blob: patterned(3000, 7),
		broken: []byte("not a picture at all")} {
		w.check(w.upload(a, name, b), "008", "upload %s", name)
	}
	require.Eventually(t, func() bool {
		f := find(w.myFiles(a, "normal", 0, 10).files(), photo)
		return f != nil && f["thumb"] != nil
	}, time.Minute, 50*time.Millisecond, "the thumbnail is made")

	logIn(t, ctx, s.URL, a.name, pwd)
	tile := `.g-item[data-name=` + jsString(photo) + `]`
	step(t, ctx, "the gallery shows the thumbnail", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-gallery")),
		until(`location.hash === '#/gallery'`),
		until(`(i => !!i && i.complete && i.naturalWidth === 150)(document.querySelector(`+jsString(tile+" img.g-thumb")+`))`))
	require.Equal(t, 2, eval[int](t, ctx, `document.querySelectorAll('.g-item').length`), "only the images")
	require.Equal(t, "No thumbnail yet", eval[string](t, ctx, `document.querySelector('.g-item[data-name="broken.png"] .g-ph').textContent`), "a placeholder")
	require.Equal(t, "Preview broken.png: No thumbnail yet",
		eval[string](t, ctx, `document.querySelector('.g-item[data-name="broken.png"] .g-open').textContent`))
	require.Equal(t, photo, eval[string](t, ctx, `document.querySelector(`+jsString(tile+" img")+`).alt`))
	require.Equal(t, "lazy", eval[string](t, ctx, `document.querySelector(`+jsString(tile+" img")+`).loading`))
	axeCheck(t, ctx, "the gallery")
	screenshot(t, ctx, art, "gallery.png")

	// The image's preview: the dialog, the 800 thumbnail; Escape closes it.
	dialogOpen := `document.getElementById('preview-dialog').open && document.getElementById('preview-dialog').contains(document.activeElement)`
	step(t, ctx, "open the image's preview", 20*time.Second,
		chromedp.Click(chromedp.CSS(tile+" .g-open")),
		until(dialogOpen),
		until(`(i => !!i && i.complete && i.naturalWidth === 600)(document.getElementById('preview-img'))`))
	require.Contains(t, eval[string](t, ctx, `document.getElementById('preview-img').src`), "size=800")
	require.Equal(t, photo, eval[string](t, ctx, `document.getElementById('preview-h').textContent`))
	axeCheck(t, ctx, "the image's preview")
	screenshot(t, ctx, art, "gallery-preview.png")
	step(t, ctx, "Escape closes the preview, the focus goes back to the tile", 10*time.Second,
		chromedp.KeyEvent(kb.Escape),
		until(`!document.getElementById('preview-dialog').open`),
		until(`document.activeElement === document.querySelector(`+jsString(tile+" .g-open")+`)`))

	// The "close" event of a dialog comes as a task after it closed: by
	// then the next preview may be on its way (a quick Escape and click) or
	// open, and must stay. Here the image's preview closes and the broken
	// image's opens at once; then the dialog closes and opens again.
	step(t, ctx, "the image's preview again", 20*time.Second,
		chromedp.Click(chromedp.CSS(tile+" .g-open")),
		until(dialogOpen))
	later := `const later = (f) => requestAnimationFrame(() => setTimeout(f, 0));`
	require.Equal(t, "broken.png", eval[string](t, ctx, `new Promise((r) => {
		const d = document.getElementById('preview-dialog');
		`+later+`
		d.addEventListener('close', () => later(() => later(() => r(d.open ? document.getElementById('preview-h').textContent : 'closed'))), { once: true });
		d.close();
		document.querySelector('.g-item[data-name="broken.png"] .g-open').click();
	})`), "a late close event ended the preview opened since")
	require.True(t, eval[bool](t, ctx, `new Promise((r) => {
		const d = document.getElementById('preview-dialog');
		`+later+`
		d.addEventListener('close', () => later(() => later(() => r(d.open))), { once: true });
		d.close();
		d.showModal();
	})`), "a late close event closed the dialog opened again")
	step(t, ctx, "an image that does not show says so", 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS("#preview-error")),
		chromedp.KeyEvent(kb.Escape),
		until(`!document.getElementById('preview-dialog').open`))

	// Shared from the dialog: the Markdown snippet's URL serves the image to anyone.
	step(t, ctx, "share the image from its preview", 20*time.Second,
		chromedp.Click(chromedp.CSS(tile+" .g-open")),
		until(dialogOpen),
		chromedp.Click(chromedp.CSS("#preview-share")),
		chromedp.WaitVisible(chromedp.CSS("#embed-md")),
		until(`!!document.querySelector(`+jsString(tile+" .g-copy-md")+`)`))
	md := eval[string](t, ctx, `document.getElementById('embed-md').value`)
	m := regexp.MustCompile(`^!\[holiday \\\[1\\\]\.jpg\]\((` + regexp.QuoteMeta(s.URL) + `/image\?[^)\s]+)\)$`).FindStringSubmatch(md)
	require.NotNil(t, m, "the Markdown snippet: %s", md)
	require.Equal(t, m[1], eval[string](t, ctx, `document.getElementById('embed-link').value`))
	require.Contains(t, eval[string](t, ctx, `document.getElementById('embed-html').value`), `alt="holiday [1].jpg"`)
	resp, err := httpClient.Get(m[1])
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", got)
	require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
	require.True(t, bytes.Equal(jpg, got), "the original image")
	axeCheck(t, ctx, "the shared image's preview")
	screenshot(t, ctx, art, "gallery-embed.png")
	step(t, ctx, "close", 10*time.Second, chromedp.Click(chromedp.CSS("#preview-done")),
		until(`!document.getElementById('preview-dialog').open`))

	// From My files: the audio plays, the text shows as text; no preview for the rest.
	step(t, ctx, "my files", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-myfiles")),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", tone))))
	require.False(t, eval[bool](t, ctx, `!!document.querySelector(`+jsString(rowSel("file-row", blob)+" .act-preview")+`)`),
		"no preview for a .bin")
	press(t, ctx, rowSel("file-row", tone), "button.act-preview")
	step(t, ctx, "the audio loads", 20*time.Second,
		until(dialogOpen),
		until(`(m => !!m && m.tagName === 'AUDIO' && m.readyState >= 1 && m.duration > 0.9)(document.getElementById('preview-media'))`))
	axeCheck(t, ctx, "the audio's preview")
	screenshot(t, ctx, art, "preview-audio.png")
	step(t, ctx, "Escape: the focus goes back to the row's Preview", 10*time.Second,
		chromedp.KeyEvent(kb.Escape),
		until(`!document.getElementById('preview-dialog').open`),
		until(`document.activeElement.matches(`+jsString(rowSel("file-row", tone)+" .act-preview")+`)`))
	press(t, ctx, rowSel("file-row", clip), "button.act-preview")
	step(t, ctx, "the video loads", 20*time.Second,
		until(dialogOpen),
		until(`(m => !!m && m.tagName === 'VIDEO' && m.readyState >= 1 && m.videoWidth === 64 && m.duration > 1)(document.getElementById('preview-media'))`))
	screenshot(t, ctx, art, "preview-video.png")
	step(t, ctx, "close the video", 10*time.Second, chromedp.KeyEvent(kb.Escape), until(`!document.getElementById('preview-dialog').open`))
	press(t, ctx, rowSel("file-row", notes), "button.act-preview")
	step(t, ctx, "the text shows", 20*time.Second,
		until(dialogOpen),
		chromedp.WaitVisible(chromedp.CSS("#preview-text")))
	require.Equal(t, text, eval[string](t, ctx, `document.getElementById('preview-text').textContent`))
	require.Zero(t, eval[int](t, ctx, `document.querySelectorAll('#preview-text *').length`), "no markup made from the file")
	setLang(t, ctx, "zh-CN")
	require.Equal(t, "关闭预览", eval[string](t, ctx, `document.getElementById('preview-close').getAttribute('aria-label')`))
	axeCheck(t, ctx, "the text's preview, in Chinese")
	screenshot(t, ctx, art, "preview-text-zh.png")
	step(t, ctx, "close", 10*time.Second, chromedp.KeyEvent(kb.Escape), until(`!document.getElementById('preview-dialog').open`))
	// A PDF: a frame of its signed storage URL, which the storage answers
	// inline but sandboxed; a link to open it in a tab.
	press(t, ctx, rowSel("file-row", doc), "button.act-preview")
	step(t, ctx, "the PDF's preview opens", 20*time.Second, until(dialogOpen))
	step(t, ctx, "the PDF's frame", 20*time.Second, chromedp.WaitVisible(chromedp.CSS("#preview-frame")))
	src := eval[string](t, ctx, `document.getElementById('preview-frame').src`)
	require.True(t, strings.HasPrefix(src, s.URL+"/group"), src)
	require.Equal(t, src, eval[string](t, ctx, `document.getElementById('preview-open').href`))
	resp, err = httpClient.Get(src)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/pdf", resp.Header.Get("Content-Type"))
	require.Equal(t, "sandbox", resp.Header.Get("Content-Security-Policy"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	axeCheck(t, ctx, "the PDF's preview, in Chinese")
	screenshot(t, ctx, art, "preview-pdf-zh.png")
	step(t, ctx, "close", 10*time.Second, chromedp.KeyEvent(kb.Escape), until(`!document.getElementById('preview-dialog').open`))
	require.Equal(t, "图片", eval[string](t, ctx, `document.getElementById('nav-gallery').textContent`))
	step(t, ctx, "the gallery on a phone", 20*time.Second,
		chromedp.EmulateViewport(390, 844),
		chromedp.Click(chromedp.CSS("#nav-gallery")),
		chromedp.WaitVisible(chromedp.CSS(tile+" .g-copy-md")))
	checkLayout(t, ctx, 390, "the gallery on a phone")
	require.True(t, strings.Contains(eval[string](t, ctx, `document.getElementById('gallery-count').textContent`), "2"))
	axeCheck(t, ctx, "the gallery on a phone, in Chinese")
	screenshot(t, ctx, art, "gallery-phone-zh.png")

	// On a phone a row's Preview is in its menu, which closes when chosen:
	// the focus goes back to the menu's button.
	step(t, ctx, "my files on a phone", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-myfiles")),
		chromedp.WaitVisible(chromedp.CSS(rowSel("file-row", notes)+" .menu-btn")))
	press(t, ctx, rowSel("file-row", notes), "button.act-preview")
	step(t, ctx, "the text on a phone", 20*time.Second, until(dialogOpen), chromedp.WaitVisible(chromedp.CSS("#preview-text")))
	checkLayout(t, ctx, 390, "the text's preview on a phone")
	screenshot(t, ctx, art, "preview-text-phone-zh.png")
	step(t, ctx, "Escape: the focus goes back to the row's menu", 10*time.Second,
		chromedp.KeyEvent(kb.Escape),
		until(`!document.getElementById('preview-dialog').open`),
		until(`document.activeElement.matches(`+jsString(rowSel("file-row", notes)+" .menu-btn")+`)`))
}
