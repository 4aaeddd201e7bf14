package app

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/fcgi/config"
	"yunpan/internal/thumb/thumbtest"
	"yunpan/store"
)

// waitThumbs polls until content md5 has been examined and returns its
// file_info.thumbs.
func waitThumbs(t *testing.T, e *env, md5 string) string {
	t.Helper()
	var th string
	require.Eventually(t, func() bool {
		err := e.a.st.DB().QueryRow("SELECT thumbs FROM file_info WHERE md5 = ?", md5).Scan(&th)
		require.NoError(t, err)
		return th != ""
	}, time.Minute, 20*time.Millisecond, "thumbnails of %s", md5)
	return th
}

// noisePNG is an opaque PNG of random pixels (large for its size).
func noisePNG(w, h int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = byte(r.UintN(256))
		if i%4 == 3 {
			m.Pix[i] = 255
		}
	}
	var b bytes.Buffer
	png.Encode(&b, m)
	return b.Bytes()
}

// fileInfoTool runs the fdfs_file_info tool on a file ID.
func fileInfoTool(t *testing.T, id string) (string, error) {
	out, err := exec.Command(filepath.Join(dfsEnv.Bin, "fdfs_file_info"), dfsEnv.ClientConf, id).CombinedOutput()
	return string(out), err
}

type thumbCase struct {
	name     string
	content  []byte
	ext      string      // of the thumbnails
	sizes    [2][2]int   // 150x150, 800
	marker   *[2]float64 // where the marker quarter's centre is in the 800 one (fractions), nil: not checked
	streamed bool        // sent with its size first (streamed to the storage in inprocess mode)
}

// TestThumbnails: uploads of images in both modes (in memory, spooled and
// streamed) get their thumbnails as slave files, which the DFS tools see
// and /image serves; non-images and hostile images get none and stay
// plain files; deleting a master (request or collector) deletes them.
func TestThumbnails(t *testing.T) {
	for _, mode := range []string{config.UploadExec, config.UploadInProcess} {
		t.Run(mode, func(t *testing.T) { testThumbnails(t, mode) })
	}
}

func testThumbnails(t *testing.T, mode string) {
	e := newEnv(t, testConfig(t, mode))
	tok := e.user("alice")
	auth := map[string]string{"Authorization": "Bearer " + tok}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cases := []thumbCase{
		// Stored 880x440 with orientation 6: shown 440x880, the stored
		// top-left quarter at the top right.
		{name: "photo.jpg", content: thumbtest.JPEG(880, 440, 6), ext: "jpg", sizes: [2][2]int{{150, 150}, {440, 880}}, marker: &[2]float64{0.75, 0.25}},
		{name: "alpha.png", content: thumbtest.PNGAlpha(400, 300), ext: "png", sizes: [2][2]int{{150, 150}, {400, 300}}},
		{name: "anim.gif", content: thumbtest.GIF(880, 440), ext: "jpg", sizes: [2][2]int{{150, 150}, {800, 400}}, marker: &[2]float64{0.25, 0.25}},
		{name: "pic.webp", content: thumbtest.WebP(), ext: "jpg"},
		// Recognised by its bytes, whatever its name says.
		{name: "picture.dat", content: thumbtest.PNG(300, 200), ext: "jpg", sizes: [2][2]int{{150, 150}, {300, 200}}},
		{name: "noise.png", content: noisePNG(200, 200), ext: "jpg", sizes: [2][2]int{{150, 150}, {200, 200}}, streamed: true},
	}
	for _, c := range cases {
		if c.streamed {
			ct, body := multipartBody(t, map[string]string{"user": "alice", "token": tok, "size": strconv.Itoa(len(c.content))}, c.name, c.content, false)
			expect(t, e.do(http.MethodPost, "/upload", body, map[string]string{"Content-Type": ct}), http.StatusOK, CodeUploadOK)
		} else {
			expect(t, e.uploadMP("alice", tok, c.name, c.content), http.StatusOK, CodeUploadOK)
		}
	}
	if mode == config.UploadInProcess {
		require.NotZero(t, e.a.streamed.Load(), "noise.png was streamed")
	}
	// Not images, or refused ones: stored as plain files all the same.
	bomb := thumbtest.Bomb(100000, 100000)
	cut := thumbtest.Truncated(thumbtest.JPEG(800, 600, 0))
	text := []byte("just some text, no picture")
	html := []byte("<html><script>alert(1)</script></html>")
	for name, b := range map[string][]byte{"bomb.png": bomb, "cut.jpg": cut, "notes.txt": text, "page.html": html} {
		expect(t, e.uploadMP("alice", tok, name, b), http.StatusOK, CodeUploadOK)
	}

	for _, c := range cases {
		md5 := sum(c.content)
		master := e.fileID(md5)
		refs := parseThumbs(waitThumbs(t, e, md5))
		require.Len(t, refs, 2, c.name)
		for i, ref := range refs {
			prefix := []string{"_150x150", "_800"}[i]
			require.Equal(t, c.ext, ref.Ext, c.name)
			id, err := slaveID(master, prefix, ref.Ext)
			require.NoError(t, err)
			// The slave's name is the master's with the prefix before the
			// extension.
			require.Equal(t, strings.TrimSuffix(master, filepath.Ext(master))+prefix+"."+c.ext, id)
			out, err := fileInfoTool(t, id)
			require.NoError(t, err, out)
			require.Contains(t, out, "file type: slave")
			require.Contains(t, out, "file size: "+strconv.FormatInt(ref.Size, 10))
			b, err := e.a.dfs.DownloadBytes(ctx, id, 0, 0)
			require.NoError(t, err)
			require.Len(t, b, int(ref.Size))
			var m image.Image
			if c.ext == "png" {
				m, err = png.Decode(bytes.NewReader(b))
			} else {
				m, err = jpeg.Decode(bytes.NewReader(b))
			}
			require.NoError(t, err, "%s %s", c.name, prefix)
			if c.sizes[i] != [2]int{} {
				require.Equal(t, c.sizes[i], [2]int{m.Bounds().Dx(), m.Bounds().Dy()}, "%s %s", c.name, prefix)
			}
			if i == 1 && c.marker != nil {
				w, h := float64(m.Bounds().Dx()), float64(m.Bounds().Dy())
				require.True(t, isRed(m.At(int(c.marker[0]*w), int(c.marker[1]*h))), "%s: marker where expected", c.name)
				require.False(t, isRed(m.At(int((1-c.marker[0])*w), int((1-c.marker[1])*h))), "%s", c.name)
			}
			if c.ext == "png" {
				_, _, _, a := m.At(m.Bounds().Dx()-1, m.Bounds().Dy()/2).RGBA()
				require.Zero(t, a, "transparency kept")
			}
		}
	}
	for name, b := range map[string][]byte{"bomb.png": bomb, "cut.jpg": cut} {
		require.Equal(t, store.ThumbsNone, waitThumbs(t, e, sum(b)), name)
		d := e.download("alice", tok, sum(b), name)
		require.Equal(t, http.StatusOK, d.status)
		require.Equal(t, b, d.body, "still a plain file")
		for _, id := range thumbCandidates(e.fileID(sum(b))) {
			require.False(t, dfsExists(t, ctx, e, id))
		}
	}

	// /image: the owner's with a token, inline, with ETag, Range and 304.
	photo := cases[0]
	pmd5 := sum(photo.content)
	img := func(name, size string, hdr map[string]string) resp {
		v := url.Values{"md5": {sum(map[string][]byte{"photo.jpg": photo.content, "notes.txt": text, "page.html": html, "picture.dat": cases[4].content}[name])}, "filename": {name}}
		if size != "" {
			v.Set("size", size)
		}
		return e.do(http.MethodGet, "/image?"+v.Encode(), nil, hdr)
	}
	ref, _ := findThumb(waitThumbs(t, e, pmd5), "150x150")
	sid, _ := slaveID(e.fileID(pmd5), "_150x150", "jpg")
	small, err := e.a.dfs.DownloadBytes(ctx, sid, 0, 0)
	require.NoError(t, err)
	r := img("photo.jpg", "150x150", auth)
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, small, r.body)
	require.Equal(t, "image/jpeg", r.header.Get("Content-Type"))
	require.Equal(t, `"`+sid+`"`, r.header.Get("ETag"))
	require.Equal(t, "private, no-store", r.header.Get("Cache-Control"))
	require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	require.Equal(t, "sandbox", r.header.Get("Content-Security-Policy"))
	require.True(t, strings.HasPrefix(r.header.Get("Content-Disposition"), "inline"))
	require.Equal(t, strconv.FormatInt(ref.Size, 10), r.header.Get("Content-Length"))
	rg := img("photo.jpg", "150x150", map[string]string{"Cookie": "token=" + tok, "Range": "bytes=0-9"})
	require.Equal(t, http.StatusPartialContent, rg.status)
	require.Equal(t, small[:10], rg.body)
	nm := img("photo.jpg", "150x150", map[string]string{"Cookie": "token=" + tok, "If-None-Match": `W/"x", "` + sid + `"`})
	require.Equal(t, http.StatusNotModified, nm.status)
	require.Empty(t, nm.body)
	full := img("photo.jpg", "", auth)
	require.Equal(t, http.StatusOK, full.status)
	require.Equal(t, photo.content, full.body)
	require.Equal(t, `"`+pmd5+`"`, full.header.Get("ETag"))

	// Refused: no token for a private image, non-images, unknown sizes.
	expect(t, img("photo.jpg", "150x150", nil), http.StatusUnauthorized, CodeTokenBad)
	expect(t, img("notes.txt", "", auth), http.StatusUnsupportedMediaType, CodeNotImage)
	expect(t, img("page.html", "", auth), http.StatusUnsupportedMediaType, CodeNotImage)
	expect(t, img("notes.txt", "800", auth), http.StatusNotFound, CodeNoThumb)
	expect(t, img("picture.dat", "", auth), http.StatusUnsupportedMediaType, CodeNotImage)
	require.Equal(t, http.StatusOK, img("picture.dat", "800", auth).status, "its thumbnails are images")
	expect(t, img("photo.jpg", "64x64", auth), http.StatusBadRequest, CodeImageFail)
	expect(t, e.do(http.MethodPost, "/image?md5="+pmd5+"&filename=photo.jpg", nil, auth), http.StatusMethodNotAllowed, CodeImageFail)

	// Lists offer the thumbnail; shared, it is public and cacheable.
	items := e.listNames("alice", tok)
	require.Contains(t, items["photo.jpg"]["thumb"], "/image?")
	require.Contains(t, items["photo.jpg"]["thumb"], "user=alice")
	require.Nil(t, items["notes.txt"]["thumb"])
	require.Nil(t, items["bomb.png"]["thumb"])
	expect(t, e.post("/dealfile?cmd=share", map[string]any{"user": "alice", "token": tok, "md5": pmd5, "filename": "photo.jpg"}), http.StatusOK, CodeShareOK)
	sh := e.post("/sharefiles?cmd=normal", map[string]any{"start": 0, "count": 10})
	files, _ := sh.json["files"].([]any)
	require.Len(t, files, 1)
	pub, _ := files[0].(map[string]any)["thumb"].(string)
	require.NotContains(t, pub, "user=")
	r = e.do(http.MethodGet, pub, nil, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, small, r.body)
	require.Equal(t, "public, max-age=31536000, immutable", r.header.Get("Cache-Control"))

	// Deleting the master deletes its thumbnails: through /dealfile...
	slaves := func(md5 string) []string {
		var ids []string
		for i, ref := range parseThumbs(waitThumbs(t, e, md5)) {
			id, err := slaveID(e.fileID(md5), []string{"_150x150", "_800"}[i], ref.Ext)
			require.NoError(t, err)
			require.True(t, dfsExists(t, ctx, e, id))
			ids = append(ids, id)
		}
		return ids
	}
	ids, master := slaves(pmd5), e.fileID(pmd5)
	// A delete moves the entry to the trash: the files stay until it is
	// emptied.
	expect(t, e.post("/dealfile?cmd=del", map[string]any{"user": "alice", "token": tok, "md5": pmd5, "filename": "photo.jpg"}), http.StatusOK, CodeDelOK)
	require.True(t, dfsExists(t, ctx, e, ids[0]))
	expect(t, e.post("/trash?cmd=empty", map[string]any{"user": "alice", "token": tok}), http.StatusOK, CodeEmptyTrashOK)
	for _, id := range append(ids, master) {
		require.False(t, dfsExists(t, ctx, e, id), id)
	}
	// ...and through the collector, which no longer has the row.
	amd5 := sum(cases[1].content)
	ids, master = slaves(amd5), e.fileID(amd5)
	res, err := e.a.st.DeleteFile(ctx, "alice", amd5, "alpha.png")
	require.NoError(t, err)
	require.Equal(t, master, res.FileID)
	require.True(t, dfsExists(t, ctx, e, ids[0]))
	require.NoError(t, e.a.gcDelete(ctx, res.FileID))
	for _, id := range append(ids, master) {
		require.False(t, dfsExists(t, ctx, e, id), id)
	}
}

func isRed(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r>>8 > 180 && g>>8 < 80 && b>>8 < 80
}

// TestThumbsCommand: the command makes the thumbnails of content stored
// without them (here by a program that makes none), records non-images as
// examined, resumes where it was, and replaces slaves a cut-short run
// left.
func TestThumbsCommand(t *testing.T) {
	cfg := testConfig(t, config.UploadInProcess)
	path := writeCfg(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := New(ctx, cfg, Options{Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), Program: "dealfile"})
	require.NoError(t, err)
	srv := newServer(t, a)
	e := &env{t: t, a: a, srv: srv, cfg: cfg}
	tok := e.user("bob")
	jpg, txt := thumbtest.JPEG(300, 200, 0), []byte("text")
	expect(t, e.uploadMP("bob", tok, "a.jpg", jpg), http.StatusOK, CodeUploadOK)
	expect(t, e.uploadMP("bob", tok, "b.txt", txt), http.StatusOK, CodeUploadOK)
	expect(t, e.uploadMP("bob", tok, "c.png", thumbtest.Bomb(50000, 50000)), http.StatusOK, CodeUploadOK)

	t.Setenv("YUNPAN_MYSQL_PASSWORD", mdb.Password) // writeCfg leaves it out
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := ThumbsMain(append([]string{"-conf", path}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	code, out := run("-dry-run")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "thumbs: would examine 3\n")
	require.Empty(t, parseThumbs(waitThumbsNow(t, e, sum(jpg))))

	code, out = run()
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "made "+sum(jpg)+" "+e.fileID(sum(jpg))+"\n")
	require.Contains(t, out, "thumbs: examined 3, made 1, none 2, deleted meanwhile 0, failed 0\n")
	require.Len(t, parseThumbs(waitThumbsNow(t, e, sum(jpg))), 2)
	require.Equal(t, store.ThumbsNone, waitThumbsNow(t, e, sum(txt)))

	code, out = run()
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "thumbs: examined 0,")

	// A run cut short after storing the slaves, before recording them.
	_, err = e.a.st.DB().Exec("UPDATE file_info SET thumbs = '' WHERE md5 = ?", sum(jpg))
	require.NoError(t, err)
	code, out = run("-workers", "1")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "thumbs: examined 1, made 1,")

	code, _ = run("extra")
	require.Equal(t, 2, code)
}

func newServer(t *testing.T, a *App) *httptest.Server {
	srv := httptest.NewServer(a.Mux())
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	return srv
}

func waitThumbsNow(t *testing.T, e *env, md5 string) string {
	t.Helper()
	var th string
	require.NoError(t, e.a.st.DB().QueryRow("SELECT thumbs FROM file_info WHERE md5 = ?", md5).Scan(&th))
	return th
}
