package app

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"yunpan/internal/inline"
	"yunpan/store"
)

// davNode is a folder or a file of a user's tree, as WebDAV sees it.
type davNode struct {
	Folder  bool
	ID      int64 // folder id (0: the root) or file entry id
	Name    string
	Size    int64
	ModTime time.Time
	MD5     string
	FileID  string // DFS file ID (files)
	Type    string // the extension as recorded ("null" when none)
}

// davFS is one user's tree as a webdav.FileSystem. Names arrive cleaned
// ("/a/b", no "." or ".." segments).
type davFS struct {
	a    *App
	t    davTree
	user string
}

var _ webdav.FileSystem = (*davFS)(nil)

// fsErr maps the store's errors to the os errors webdav turns into
// statuses (it tests them with os.IsNotExist and the like, which see
// through *os.PathError only).
func fsErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return davErr(os.ErrNotExist, "%v", err)
	case errors.Is(err, store.ErrExists):
		return davErr(os.ErrExist, "%v", err)
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrForbidden):
		return davErr(os.ErrPermission, "%v", err)
	}
	return err
}

// davErr is base (os.ErrNotExist, …) with what happened.
func davErr(base error, format string, args ...any) error {
	return &os.PathError{Op: "dav", Path: fmt.Sprintf(format, args...), Err: base}
}

// parentOf resolves the folder that is to hold name, and name's last segment.
func (f *davFS) parentOf(ctx context.Context, name string) (davNode, string, error) {
	dir, base := path.Split(strings.TrimSuffix(name, "/"))
	if base == "" {
		return davNode{}, "", davErr(os.ErrPermission, "the root")
	}
	if err := store.CheckNewFileName(base); err != nil || !store.ValidFileName(base) {
		return davNode{}, "", davErr(os.ErrPermission, "bad name %q", base)
	}
	p, err := f.t.lookup(ctx, f.user, path.Clean("/"+dir))
	if err != nil {
		return davNode{}, "", fsErr(err)
	}
	if !p.Folder {
		return davNode{}, "", davErr(os.ErrNotExist, "%s is a file", dir)
	}
	return p, base, nil
}

func (f *davFS) Mkdir(ctx context.Context, name string, _ os.FileMode) error {
	p, base, err := f.parentOf(ctx, name)
	if err != nil {
		return err
	}
	return fsErr(f.t.mkdir(ctx, f.user, p.ID, base))
}

func (f *davFS) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	n, err := f.t.lookup(ctx, f.user, name)
	if err != nil {
		return nil, fsErr(err)
	}
	return davInfo{n}, nil
}

func (f *davFS) RemoveAll(ctx context.Context, name string) error {
	n, err := f.t.lookup(ctx, f.user, name)
	if err != nil {
		return fsErr(err)
	}
	if n.Folder && n.ID == 0 {
		return davErr(os.ErrPermission, "the root cannot be removed")
	}
	return fsErr(f.t.remove(ctx, f.user, n))
}

func (f *davFS) Rename(ctx context.Context, oldName, newName string) error {
	n, err := f.t.lookup(ctx, f.user, oldName)
	if err != nil {
		return fsErr(err)
	}
	if n.Folder && n.ID == 0 {
		return davErr(os.ErrPermission, "the root cannot be moved")
	}
	p, base, err := f.parentOf(ctx, newName)
	if err != nil {
		return err
	}
	return fsErr(f.t.move(ctx, f.user, n, p.ID, base))
}

func (f *davFS) OpenFile(ctx context.Context, name string, flag int, _ os.FileMode) (webdav.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC) != 0 {
		p, base, err := f.parentOf(ctx, name)
		if err != nil {
			return nil, err
		}
		if n, err := f.t.lookup(ctx, f.user, name); err == nil && n.Folder {
			return nil, davErr(os.ErrPermission, "%s is a folder", name)
		}
		return f.a.newDavWriter(ctx, f, p.ID, base), nil
	}
	n, err := f.t.lookup(ctx, f.user, name)
	if err != nil {
		return nil, fsErr(err)
	}
	if n.Folder {
		return &davDir{fs: f, ctx: ctx, n: n}, nil
	}
	return &davReader{a: f.a, ctx: ctx, n: n}, nil
}

// davInfo is a node as an os.FileInfo, with the ETag (the content's md5)
// and a content type that never lets a browser run the file.
type davInfo struct{ n davNode }

func (i davInfo) Name() string {
	if i.n.Folder && i.n.ID == 0 {
		return "/"
	}
	return i.n.Name
}
func (i davInfo) Size() int64        { return i.n.Size }
func (i davInfo) ModTime() time.Time { return i.n.ModTime }
func (i davInfo) IsDir() bool        { return i.n.Folder }
func (i davInfo) Sys() any           { return nil }
func (i davInfo) Mode() os.FileMode {
	if i.n.Folder {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

func (i davInfo) ETag(context.Context) (string, error) {
	if i.n.Folder || i.n.MD5 == "" { // a file being written has no md5 yet
		return "", webdav.ErrNotImplemented
	}
	return `"` + i.n.MD5 + `"`, nil
}

func (i davInfo) ContentType(context.Context) (string, error) {
	if i.n.Folder {
		return "", webdav.ErrNotImplemented
	}
	ct, _ := inline.Type(i.n.Type)
	return ct, nil
}

// davDir is an open folder: PROPFIND reads its children.
type davDir struct {
	fs   *davFS
	ctx  context.Context
	n    davNode
	read bool
}

func (d *davDir) Close() error                   { return nil }
func (d *davDir) Read([]byte) (int, error)       { return 0, davErr(os.ErrInvalid, "a folder") }
func (d *davDir) Write([]byte) (int, error)      { return 0, davErr(os.ErrPermission, "a folder") }
func (d *davDir) Seek(int64, int) (int64, error) { return 0, davErr(os.ErrInvalid, "a folder") }
func (d *davDir) Stat() (os.FileInfo, error)     { return davInfo{d.n}, nil }
func (d *davDir) Readdir(count int) ([]fs.FileInfo, error) {
	if d.read {
		if count > 0 {
			return nil, io.EOF
		}
		return nil, nil
	}
	d.read = true
	kids, err := d.fs.t.children(d.ctx, d.fs.user, d.n.ID)
	if err != nil {
		return nil, fsErr(err)
	}
	out := make([]fs.FileInfo, len(kids))
	for i, k := range kids {
		out[i] = davInfo{k}
	}
	return out, nil
}

// davReader streams a file from the DFS from the current offset; a seek
// drops the running download, and the next read starts one at the new
// offset (http.ServeContent seeks to learn the size, then to the range).
type davReader struct {
	a    *App
	ctx  context.Context
	n    davNode
	off  int64
	body *io.PipeReader
	stop context.CancelFunc
	done chan struct{}
}

func (r *davReader) Stat() (os.FileInfo, error) { return davInfo{r.n}, nil }
func (r *davReader) Readdir(int) ([]fs.FileInfo, error) {
	return nil, davErr(os.ErrInvalid, "not a folder")
}
func (r *davReader) Write([]byte) (int, error) {
	return 0, davErr(os.ErrPermission, "opened for reading")
}

func (r *davReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.n.Size
	}
	if offset < 0 {
		return 0, davErr(os.ErrInvalid, "negative offset")
	}
	if offset != r.off {
		r.drop()
		r.off = offset
	}
	return offset, nil
}

func (r *davReader) Read(p []byte) (int, error) {
	if r.off >= r.n.Size {
		return 0, io.EOF
	}
	if r.body == nil {
		ctx, cancel := context.WithTimeout(r.ctx, davTransferTimeout)
		pr, pw := io.Pipe()
		r.body, r.stop, r.done = pr, cancel, make(chan struct{})
		go func(off int64, done chan struct{}) {
			defer close(done)
			_, err := r.a.dfs.Download(ctx, r.n.FileID, off, r.n.Size-off, pw)
			pw.CloseWithError(err) // nil: EOF
		}(r.off, r.done)
	}
	n, err := r.body.Read(p)
	r.off += int64(n)
	if err == io.EOF && r.off < r.n.Size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// drop ends the running download, if any, and waits for it.
func (r *davReader) drop() {
	if r.body == nil {
		return
	}
	r.stop()
	r.body.CloseWithError(errors.New("dropped"))
	<-r.done
	r.body, r.stop, r.done = nil, nil, nil
}

func (r *davReader) Close() error {
	r.drop()
	return nil
}

// davTransferTimeout bounds one WebDAV upload or download to or from the DFS.
const davTransferTimeout = 6 * time.Hour

// putBodyKey carries the PUT request's body state to the file system.
type putBodyKey struct{}

// putBody wraps a PUT body: its declared length (-1 unknown) and whether it
// was read to a clean end, so that a body cut short is never recorded.
type putBody struct {
	io.ReadCloser
	length int64
	clean  bool
}

func (b *putBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.clean = true
	}
	return n, err
}

// davWriter takes a file's bytes: straight to the DFS when the PUT's
// length is known, else into a spool file first. Close records the file
// only if every byte arrived; the hash is computed on the way.
type davWriter struct {
	a      *App
	fs     *davFS
	ctx    context.Context
	parent int64
	name   string
	body   *putBody // nil: not a PUT (a COPY)
	hash   hashWriter
	n      int64
	err    error
	link   *davNode // COPY of a whole file: reference its content

	// streaming to the DFS
	pw     *io.PipeWriter
	result chan davUpload
	cancel context.CancelFunc
	// spooling
	spool *os.File
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

type davUpload struct {
	id  string
	err error
}

func (a *App) newDavWriter(ctx context.Context, f *davFS, parent int64, name string) *davWriter {
	w := &davWriter{a: a, fs: f, ctx: ctx, parent: parent, name: name, hash: md5.New()}
	w.body, _ = ctx.Value(putBodyKey{}).(*putBody)
	return w
}

func (w *davWriter) Stat() (os.FileInfo, error) {
	return davInfo{davNode{Name: w.name, Size: w.n, ModTime: time.Now(), Type: fileExt(w.name)}}, nil
}
func (w *davWriter) Readdir(int) ([]fs.FileInfo, error) {
	return nil, davErr(os.ErrInvalid, "not a folder")
}
func (w *davWriter) Read([]byte) (int, error) {
	return 0, davErr(os.ErrPermission, "opened for writing")
}
func (w *davWriter) Seek(int64, int) (int64, error) {
	return 0, davErr(os.ErrPermission, "opened for writing")
}

// ReadFrom copies a whole file of the same user's tree by reference (a
// WebDAV COPY): no byte goes through.
func (w *davWriter) ReadFrom(r io.Reader) (int64, error) {
	if src, ok := r.(*davReader); ok && src.off == 0 && w.n == 0 && w.link == nil && w.body == nil {
		n := src.n
		w.link, w.n = &n, n.Size
		src.off = n.Size
		return n.Size, nil
	}
	return io.Copy(struct{ io.Writer }{w}, r)
}

func (w *davWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.link != nil {
		w.err = davErr(os.ErrInvalid, "write after copy")
		return 0, w.err
	}
	if w.pw == nil && w.spool == nil {
		if w.err = w.start(); w.err != nil {
			return 0, w.err
		}
	}
	if w.body != nil && w.body.length >= 0 && w.n+int64(len(p)) > w.body.length {
		w.err = davErr(os.ErrInvalid, "more bytes than Content-Length")
		return 0, w.err
	}
	if max := w.a.cfg.DavMaxFileBytes; max > 0 && w.n+int64(len(p)) > max {
		w.err = davErr(os.ErrInvalid, "a file may have at most %d bytes", max)
		return 0, w.err
	}
	w.hash.Write(p)
	var n int
	if w.pw != nil {
		n, w.err = w.pw.Write(p)
	} else {
		n, w.err = w.spool.Write(p)
	}
	w.n += int64(n)
	return n, w.err
}

// start begins the DFS upload (the length is known) or the spool file.
func (w *davWriter) start() error {
	if w.body != nil && w.body.length >= 0 {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), davTransferTimeout)
		pr, pw := io.Pipe()
		w.pw, w.cancel, w.result = pw, cancel, make(chan davUpload, 1)
		go func(size int64) {
			id, err := w.a.dfs.Upload(ctx, pr, size, fileExt(w.name))
			pr.CloseWithError(err)
			w.result <- davUpload{id, err}
		}(w.body.length)
		return nil
	}
	f, err := os.CreateTemp(w.a.tmpDir, "dav-*")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	os.Remove(f.Name()) // unnamed: nothing stays behind after a crash
	w.spool = f
	return nil
}

// Close stores what was written and records it.
func (w *davWriter) Close() error {
	ctx := context.WithoutCancel(w.ctx)
	if w.link != nil {
		return fsErr(w.fs.t.linkFile(ctx, w.fs.user, w.parent, w.link.MD5, w.name))
	}
	if w.pw == nil && w.spool == nil && w.err == nil {
		w.err = w.start() // an empty file
	}
	complete := w.err == nil && (w.body == nil || (w.body.clean && (w.body.length < 0 || w.n == w.body.length)))
	var id string
	var err error
	switch {
	case w.pw != nil:
		if complete {
			w.pw.Close()
		} else {
			w.pw.CloseWithError(errors.New("body cut short"))
		}
		res := <-w.result
		w.cancel()
		id, err = res.id, res.err
	case w.spool != nil:
		defer w.spool.Close()
		if complete {
			if _, err = w.spool.Seek(0, io.SeekStart); err == nil {
				ctx, cancel := context.WithTimeout(ctx, davTransferTimeout)
				id, err = w.a.dfs.Upload(ctx, w.spool, w.n, fileExt(w.name))
				cancel()
			}
		}
	}
	if !complete {
		if id != "" {
			w.a.discard(ctx, id, 0, "dav-incomplete")
		}
		if w.err != nil {
			return w.err
		}
		return davErr(os.ErrInvalid, "the body ended early")
	}
	if err != nil {
		return dfsErr(err)
	}
	typ := fileExt(w.name)
	if typ == "" {
		typ = "null"
	}
	sum := hex.EncodeToString(w.hash.Sum(nil))
	res, err := w.fs.t.putFile(ctx, w.fs.user, w.parent, store.NewFile{User: w.fs.user, MD5: sum, FileName: w.name,
		FileID: id, URL: w.a.fileURL(id), Size: w.n, Type: typ})
	if err != nil {
		w.a.discard(ctx, id, 0, "dav-rollback")
		return fsErr(err)
	}
	if res.Dup {
		w.a.discard(ctx, id, res.GCID, "duplicate")
	}
	return nil
}
