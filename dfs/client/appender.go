package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// Appender files (docs/protocol.md §3.4, §3.5, §3.10): upload one with UploadAppender,
// grow or change it with the calls below, and turn it into an ordinary file
// with RegenerateAppenderFilename. Every call asks the tracker for the
// file's source storage (QUERY_UPDATE, 103) first.

// sendStreamed writes one request whose body is fixed followed by size
// bytes of r: small requests go out in one write, big content is streamed.
func sendStreamed(cn *conn, cmd byte, fixed []byte, r io.Reader, size int64) error {
	b := make([]byte, proto.HeaderSize, proto.HeaderSize+len(fixed)+int(min(size, copyBuf)))
	proto.Header{PkgLen: int64(len(fixed)) + size, Cmd: cmd}.Encode(b)
	b = append(b, fixed...)
	if size <= copyBuf {
		n := len(b)
		b = b[:n+int(size)]
		if _, err := io.ReadFull(r, b[n:]); err != nil {
			return fmt.Errorf("read content: %w", err)
		}
		_, err := cn.Write(b)
		return err
	}
	if _, err := cn.Write(b); err != nil {
		return err
	}
	n, err := io.CopyBuffer(cn, io.LimitReader(r, size), make([]byte, copyBuf))
	if err == nil && n < size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		cn.broken = true // the storage still waits for the rest
		return fmt.Errorf("stream content (%d of %d bytes): %w", n, size, err)
	}
	return nil
}

// appenderRemote splits an appender file ID and checks what the storage
// will check anyway, so a bad ID never costs a tracker round trip.
func appenderRemote(fileID string) (string, error) {
	_, remote, err := fileid.Split(fileID)
	if err != nil {
		return "", err
	}
	if len(remote) < fileid.NormalRemoteLen || len(remote) >= fileid.MaxRemoteLen {
		return "", proto.Errf(proto.StatusEINVAL, "file id %q: remote filename length %d", fileID, len(remote))
	}
	return remote, nil
}

func appendOn(cn *conn, remote string, r io.Reader, size int64) error {
	fixed := (&proto.Buf{}).I64(int64(len(remote))).I64(size).String(remote).B
	if err := sendStreamed(cn, proto.CmdAppendFile, fixed, r, size); err != nil {
		return err
	}
	_, err := cn.response(0)
	return err
}

func modifyOn(cn *conn, remote string, offset int64, r io.Reader, size int64) error {
	fixed := (&proto.Buf{}).I64(int64(len(remote))).I64(offset).I64(size).String(remote).B
	if err := sendStreamed(cn, proto.CmdModifyFile, fixed, r, size); err != nil {
		return err
	}
	_, err := cn.response(0)
	return err
}

func truncateOn(cn *conn, remote string, size int64) error {
	body := (&proto.Buf{}).I64(int64(len(remote))).I64(size).String(remote).B
	_, err := cn.roundTrip(proto.CmdTruncateFile, 0, body, 0)
	return err
}

// Append appends size bytes read from r to the appender file fileID
// (APPEND_FILE, 24).
func (c *Client) Append(ctx context.Context, fileID string, r io.Reader, size int64) error {
	remote, err := appenderRemote(fileID)
	if err == nil && size < 0 {
		err = proto.Errf(proto.StatusEINVAL, "negative size %d", size)
	}
	if err == nil {
		err = c.onStorage(ctx, fileID, true, func(cn *conn) error { return appendOn(cn, remote, r, size) })
	}
	if err != nil {
		return fmt.Errorf("append to %s: %w", fileID, err)
	}
	return nil
}

// AppendBuffer appends b to the appender file fileID.
func (c *Client) AppendBuffer(ctx context.Context, fileID string, b []byte) error {
	return c.Append(ctx, fileID, bytes.NewReader(b), int64(len(b)))
}

// AppendFile appends the content of the local file path.
func (c *Client) AppendFile(ctx context.Context, fileID, path string) error {
	f, size, err := OpenLocal(path)
	if err != nil {
		return fmt.Errorf("append to %s: %w", fileID, err)
	}
	defer f.Close()
	return c.Append(ctx, fileID, f, size)
}

// Modify overwrites the appender file fileID from offset (at most its
// current size; the file may grow) with size bytes of r (MODIFY_FILE, 34).
func (c *Client) Modify(ctx context.Context, fileID string, offset int64, r io.Reader, size int64) error {
	remote, err := appenderRemote(fileID)
	if err == nil && (offset < 0 || size < 0) {
		err = proto.Errf(proto.StatusEINVAL, "offset %d, size %d", offset, size)
	}
	if err == nil {
		err = c.onStorage(ctx, fileID, true, func(cn *conn) error { return modifyOn(cn, remote, offset, r, size) })
	}
	if err != nil {
		return fmt.Errorf("modify %s at %d: %w", fileID, offset, err)
	}
	return nil
}

// ModifyBuffer overwrites the appender file fileID from offset with b.
func (c *Client) ModifyBuffer(ctx context.Context, fileID string, offset int64, b []byte) error {
	return c.Modify(ctx, fileID, offset, bytes.NewReader(b), int64(len(b)))
}

// ModifyFile overwrites the appender file fileID from offset with the
// content of the local file path.
func (c *Client) ModifyFile(ctx context.Context, fileID string, offset int64, path string) error {
	f, size, err := OpenLocal(path)
	if err != nil {
		return fmt.Errorf("modify %s: %w", fileID, err)
	}
	defer f.Close()
	return c.Modify(ctx, fileID, offset, f, size)
}

// TruncateFile sets the size of the appender file fileID (TRUNCATE_FILE,
// 36); a larger size extends it with zeros.
func (c *Client) TruncateFile(ctx context.Context, fileID string, size int64) error {
	remote, err := appenderRemote(fileID)
	if err == nil && size < 0 {
		err = proto.Errf(proto.StatusEINVAL, "negative size %d", size)
	}
	if err == nil {
		err = c.onStorage(ctx, fileID, true, func(cn *conn) error { return truncateOn(cn, remote, size) })
	}
	if err != nil {
		return fmt.Errorf("truncate %s to %d: %w", fileID, size, err)
	}
	return nil
}

// RegenerateAppenderFilename turns the appender file fileID into an
// ordinary file and returns its new file ID (REGENERATE_APPENDER_FILENAME,
// 38). The old ID no longer exists afterwards.
func (c *Client) RegenerateAppenderFilename(ctx context.Context, fileID string) (string, error) {
	remote, err := appenderRemote(fileID)
	var newID string
	if err == nil {
		err = c.onStorage(ctx, fileID, true, func(cn *conn) error {
			b, err := cn.roundTrip(proto.CmdRegenerateAppenderFilename, 0, []byte(remote), proto.GroupNameLen+proto.MaxFilenameLen)
			if err != nil {
				return err
			}
			if len(b) <= proto.GroupNameLen {
				return proto.Errf(proto.StatusEINVAL, "regenerate response of %d bytes", len(b))
			}
			newID = fileid.Join(proto.Fixed(b[:proto.GroupNameLen]), string(b[proto.GroupNameLen:]))
			return nil
		})
	}
	if err != nil {
		return "", fmt.Errorf("regenerate %s: %w", fileID, err)
	}
	return newID, nil
}

// OpenLocal opens a regular local file for sending and returns its size
// (EINVAL for anything else: a directory or device would never end).
func OpenLocal(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, proto.Errf(proto.StatusEINVAL, "%s is not a regular file", path)
	}
	return f, st.Size(), nil
}
