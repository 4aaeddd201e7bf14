package client

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// UploadSlave stores size bytes of r as a slave of masterID (docs/protocol.md §3.3,
// §6.8): its name is the master's with prefix (and ext, no dot; empty = no
// extension) added, in the master's group and directory. The storage is the
// master's source (QUERY_UPDATE on the master, 103). It returns the slave's
// file ID; an existing slave is EEXIST.
func (c *Client) UploadSlave(ctx context.Context, masterID, prefix, ext string, r io.Reader, size int64) (string, error) {
	return c.UploadSlaveWith(ctx, masterID, prefix, ext, r, size, nil)
}

// UploadSlaveBuffer uploads b as a slave of masterID.
func (c *Client) UploadSlaveBuffer(ctx context.Context, masterID, prefix, ext string, b []byte) (string, error) {
	return c.UploadSlaveWith(ctx, masterID, prefix, ext, bytes.NewReader(b), int64(len(b)), nil)
}

// UploadSlaveFile uploads a local file as a slave of masterID; an empty ext
// is taken from the local name (§6.4), as the C client does.
func (c *Client) UploadSlaveFile(ctx context.Context, masterID, prefix, path, ext string) (string, error) {
	f, size, err := OpenLocal(path)
	if err != nil {
		return "", fmt.Errorf("upload slave of %s: %w", masterID, err)
	}
	defer f.Close()
	if ext == "" {
		ext = fileid.ExtFromFilename(path)
	}
	return c.UploadSlaveWith(ctx, masterID, prefix, ext, f, size, nil)
}

// UploadSlaveWith is UploadSlave that also sets meta (SET_METADATA 'O' on
// the same storage connection, as the C client does); if that fails the
// slave is deleted again and the metadata error returned.
func (c *Client) UploadSlaveWith(ctx context.Context, masterID, prefix, ext string, r io.Reader, size int64, meta []proto.Meta) (string, error) {
	_, master, err := fileid.Split(masterID)
	switch {
	case err != nil:
	case len(master) <= fileid.LogicPrefixLen || len(master) >= fileid.MaxRemoteLen:
		err = proto.Errf(proto.StatusEINVAL, "master remote filename length %d", len(master))
	case !fileid.ValidPrefix(prefix):
		err = proto.Errf(proto.StatusEINVAL, "bad prefix %q", prefix)
	case !fileid.ValidExt(ext):
		err = proto.Errf(proto.StatusEINVAL, "bad extension %q", ext)
	case size < 0:
		err = proto.Errf(proto.StatusEINVAL, "negative size %d", size)
	}
	if err != nil {
		return "", fmt.Errorf("upload slave of %s: %w", masterID, err)
	}
	fixed := (&proto.Buf{}).I64(int64(len(master))).I64(size).Fixed(prefix, fileid.MaxPrefixLen).
		Fixed(ext, proto.ExtLen).String(master).B
	var id string
	err = c.onStorage(ctx, masterID, true, func(cn *conn) error {
		if err := sendStreamed(cn, proto.CmdUploadSlaveFile, fixed, r, size); err != nil {
			return err
		}
		body, err := cn.response(proto.GroupNameLen + proto.MaxFilenameLen)
		if err != nil {
			return err
		}
		if len(body) <= proto.GroupNameLen {
			return proto.Errf(proto.StatusEINVAL, "upload slave response of %d bytes", len(body))
		}
		id = fileid.Join(proto.Fixed(body[:proto.GroupNameLen]), string(body[proto.GroupNameLen:]))
		if len(meta) > 0 {
			if err := setMetaOn(cn, id, meta, 'O'); err != nil {
				if !cn.broken {
					_ = deleteOn(cn, id)
				}
				return fmt.Errorf("set metadata of new slave %s (deleted): %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("upload slave of %s: %w", masterID, err)
	}
	return id, nil
}
