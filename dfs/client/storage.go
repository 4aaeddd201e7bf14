package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// maxMetaBody bounds a GET_METADATA answer.
const maxMetaBody = 16 << 20

// copyBuf is the streaming buffer size for uploads and downloads.
const copyBuf = 64 << 10

// copyBufs holds download buffers: one a download would otherwise be
// garbage for every file.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBuf); return &b }}

// UploadOptions tune UploadWith.
type UploadOptions struct {
	Group    string       // upload into this group; "" lets the tracker choose
	Appender bool         // UPLOAD_APPENDER_FILE (23) instead of UPLOAD_FILE (11)
	Meta     []proto.Meta // set with SET_METADATA 'O' right after the upload
	// Storage, when set ("ip:port"), skips the tracker and uploads there
	// with store path PathIndex (−1: the storage chooses).
	Storage   string
	PathIndex int
}

// Upload stores size bytes read from r with extension ext (no dot, may be
// empty) on the storage the tracker picks, and returns the file ID.
func (c *Client) Upload(ctx context.Context, r io.Reader, size int64, ext string) (string, error) {
	return c.UploadWith(ctx, r, size, ext, UploadOptions{})
}

// UploadBuffer uploads b.
func (c *Client) UploadBuffer(ctx context.Context, b []byte, ext string) (string, error) {
	return c.Upload(ctx, bytes.NewReader(b), int64(len(b)), ext)
}

// UploadFile uploads a local file; an empty ext is taken from its name (§6.4).
func (c *Client) UploadFile(ctx context.Context, path, ext string) (string, error) {
	return c.uploadFile(ctx, path, ext, UploadOptions{})
}

// UploadTo uploads straight to the storage at storageAddr ("ip:port") into
// store path pathIndex (−1: the storage chooses), without asking a tracker.
func (c *Client) UploadTo(ctx context.Context, storageAddr string, pathIndex int, r io.Reader, size int64, ext string) (string, error) {
	return c.UploadWith(ctx, r, size, ext, UploadOptions{Storage: storageAddr, PathIndex: pathIndex})
}

// UploadAppender uploads an appender file (cmd 23), which can later grow.
func (c *Client) UploadAppender(ctx context.Context, r io.Reader, size int64, ext string) (string, error) {
	return c.UploadWith(ctx, r, size, ext, UploadOptions{Appender: true})
}

// UploadAppenderFile uploads a local file as an appender file.
func (c *Client) UploadAppenderFile(ctx context.Context, path, ext string) (string, error) {
	return c.uploadFile(ctx, path, ext, UploadOptions{Appender: true})
}

func (c *Client) uploadFile(ctx context.Context, path, ext string, o UploadOptions) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return "", proto.Errf(proto.StatusEINVAL, "upload %s: not a regular file", path)
	}
	if ext == "" {
		ext = fileid.ExtFromFilename(path)
	}
	return c.UploadWith(ctx, f, st.Size(), ext, o)
}

// UploadWith is the general upload (docs/protocol.md §3.1, §3.2). With metadata it is
// two requests on the same storage connection; if SET_METADATA fails, the
// new file is deleted and the metadata error returned.
func (c *Client) UploadWith(ctx context.Context, r io.Reader, size int64, ext string, o UploadOptions) (string, error) {
	if size < 0 {
		return "", proto.Errf(proto.StatusEINVAL, "upload: negative size %d", size)
	}
	if len(ext) > fileid.MaxExtLen || !fileid.ValidExt(ext) {
		return "", proto.Errf(proto.StatusEINVAL, "upload: bad extension %q", ext)
	}
	addr, pathIndex := o.Storage, o.PathIndex
	if addr == "" {
		st, err := c.QueryStore(ctx, o.Group)
		if err != nil {
			return "", fmt.Errorf("upload: %w", err)
		}
		addr, pathIndex = st.Storages[0].String(), int(st.PathIndex)
	}
	if pathIndex < -1 || pathIndex > 255 {
		return "", proto.Errf(proto.StatusEINVAL, "upload: store path index %d", pathIndex)
	}
	cmd := byte(proto.CmdUploadFile)
	if o.Appender {
		cmd = proto.CmdUploadAppenderFile
	}
	var fileID string
	err := c.withConn(ctx, addr, func(cn *conn) error {
		id, err := uploadOn(cn, cmd, pathIndex, r, size, ext)
		if err != nil {
			return err
		}
		if len(o.Meta) > 0 {
			if err := setMetaOn(cn, id, o.Meta, 'O'); err != nil {
				if !cn.broken {
					_ = deleteOn(cn, id)
				}
				return fmt.Errorf("set metadata of new file %s (deleted): %w", id, err)
			}
		}
		fileID = id
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("upload to %s: %w", addr, err)
	}
	return fileID, nil
}

// uploadOn sends cmd 11/23 and streams the content.
func uploadOn(cn *conn, cmd byte, pathIndex int, r io.Reader, size int64, ext string) (string, error) {
	const fixed = 1 + 8 + proto.ExtLen
	b := make([]byte, proto.HeaderSize, proto.HeaderSize+fixed+min(size, copyBuf))
	proto.Header{PkgLen: fixed + size, Cmd: cmd}.Encode(b)
	w := &proto.Buf{B: b}
	w.U8(byte(int8(pathIndex))).I64(size).Fixed(ext, proto.ExtLen)
	// small files travel with the header in one write
	if size <= copyBuf {
		n := len(w.B)
		w.B = w.B[:n+int(size)]
		if _, err := io.ReadFull(r, w.B[n:]); err != nil {
			if err == io.EOF { // nothing at all: still short of size
				err = io.ErrUnexpectedEOF
			}
			return "", fmt.Errorf("read upload content: %w", err)
		}
		if _, err := cn.Write(w.B); err != nil {
			return "", err
		}
	} else {
		if _, err := cn.Write(w.B); err != nil {
			return "", err
		}
		n, err := io.CopyBuffer(cn, io.LimitReader(r, size), make([]byte, min(copyBuf, max(size, 1))))
		if err == nil && n < size {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			cn.broken = true // the storage still waits for the rest
			return "", fmt.Errorf("stream upload content (%d of %d bytes): %w", n, size, err)
		}
	}
	body, err := cn.response(proto.GroupNameLen + proto.MaxFilenameLen)
	if err != nil {
		return "", err
	}
	if len(body) <= proto.GroupNameLen {
		return "", proto.Errf(proto.StatusEINVAL, "upload response of %d bytes", len(body))
	}
	return fileid.Join(proto.Fixed(body[:proto.GroupNameLen]), string(body[proto.GroupNameLen:])), nil
}

// groupRemoteBody is zstr[16] group + remote filename, the body of DELETE,
// GET_METADATA and QUERY_FILE_INFO.
func groupRemoteBody(fileID string) ([]byte, error) { return fetchBody(fileID) }

func deleteOn(cn *conn, fileID string) error {
	body, err := groupRemoteBody(fileID)
	if err != nil {
		return err
	}
	_, err = cn.roundTrip(proto.CmdDeleteFile, 0, body, 0)
	return err
}

func setMetaOn(cn *conn, fileID string, meta []proto.Meta, flag byte) error {
	group, remote, err := fileid.Split(fileID)
	if err != nil {
		return err
	}
	m := proto.EncodeMetadata(meta)
	w := (&proto.Buf{}).I64(int64(len(remote))).I64(int64(len(m))).U8(flag).
		Fixed(group, proto.GroupNameLen).String(remote).Bytes(m)
	_, err = cn.roundTrip(proto.CmdSetMetadata, 0, w.B, 0)
	return err
}

// onStorage asks the tracker for the storage serving fileID (update: the
// one that may change it) and runs fn on a connection to it.
func (c *Client) onStorage(ctx context.Context, fileID string, update bool, fn func(cn *conn) error) error {
	if _, _, err := fileid.Split(fileID); err != nil {
		return err
	}
	st, err := c.QueryFetch(ctx, fileID, update)
	if err != nil {
		return err
	}
	return c.withConn(ctx, st.Storages[0].String(), fn)
}

// Delete deletes a file (QUERY_UPDATE, then DELETE_FILE).
func (c *Client) Delete(ctx context.Context, fileID string) error {
	err := c.onStorage(ctx, fileID, true, func(cn *conn) error { return deleteOn(cn, fileID) })
	if err != nil {
		return fmt.Errorf("delete %s: %w", fileID, err)
	}
	return nil
}

// SetMetadata replaces (flag 'O') or merges into (flag 'M') a file's metadata.
func (c *Client) SetMetadata(ctx context.Context, fileID string, meta []proto.Meta, flag byte) error {
	if flag != 'O' && flag != 'M' {
		return proto.Errf(proto.StatusEINVAL, "set metadata %s: flag %q", fileID, flag)
	}
	err := c.onStorage(ctx, fileID, true, func(cn *conn) error { return setMetaOn(cn, fileID, meta, flag) })
	if err != nil {
		return fmt.Errorf("set metadata %s: %w", fileID, err)
	}
	return nil
}

// GetMetadata returns a file's metadata, sorted by name. It asks the
// storage QUERY_UPDATE names, as the reference client does (§3.8).
func (c *Client) GetMetadata(ctx context.Context, fileID string) ([]proto.Meta, error) {
	body, err := groupRemoteBody(fileID)
	if err != nil {
		return nil, fmt.Errorf("get metadata %s: %w", fileID, err)
	}
	var meta []proto.Meta
	err = c.onStorage(ctx, fileID, true, func(cn *conn) error {
		b, err := cn.roundTrip(proto.CmdGetMetadata, 0, body, maxMetaBody)
		meta = proto.DecodeMetadata(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get metadata %s: %w", fileID, err)
	}
	return meta, nil
}

// Download writes length bytes of fileID starting at offset to w (length 0:
// to the end) and returns how many bytes it wrote.
func (c *Client) Download(ctx context.Context, fileID string, offset, length int64, w io.Writer) (int64, error) {
	group, remote, err := fileid.Split(fileID)
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", fileID, err)
	}
	if offset < 0 || length < 0 {
		return 0, proto.Errf(proto.StatusEINVAL, "download %s: offset %d, length %d", fileID, offset, length)
	}
	body := (&proto.Buf{}).I64(offset).I64(length).Fixed(group, proto.GroupNameLen).String(remote).B
	var n int64
	err = c.fetchOnStorage(ctx, fileID, func(cn *conn) error { // ENOENT: once more on the source (readyourwrites.go)
		if err := cn.request(proto.CmdDownloadFile, 0, body); err != nil {
			return err
		}
		h, err := cn.header()
		if err != nil {
			return err
		}
		bp := copyBufs.Get().(*[]byte)
		n, err = io.CopyBuffer(w, io.LimitReader(cn, h.PkgLen), *bp)
		copyBufs.Put(bp)
		if err == nil && n < h.PkgLen {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			cn.broken = true // unread content is still on the wire
			return fmt.Errorf("receive content (%d of %d bytes): %w", n, h.PkgLen, err)
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("download %s: %w", fileID, err)
	}
	return n, nil
}

// DownloadBytes returns length bytes of fileID from offset (0: to the end).
func (c *Client) DownloadBytes(ctx context.Context, fileID string, offset, length int64) ([]byte, error) {
	var b bytes.Buffer
	if _, err := c.Download(ctx, fileID, offset, length, &b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// DownloadFile downloads into localPath through a temporary file in the
// same directory that is renamed into place only when complete.
func (c *Client) DownloadFile(ctx context.Context, fileID, localPath string, offset, length int64) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(localPath), "."+filepath.Base(localPath)+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", fileID, err)
	}
	tmp := f.Name()
	n, err := c.Download(ctx, fileID, offset, length, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("download %s: %w", fileID, cerr)
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, localPath)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return n, err
	}
	return n, nil
}
