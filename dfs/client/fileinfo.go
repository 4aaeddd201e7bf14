package client

import (
	"context"
	"fmt"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// QUERY_FILE_INFO flags, sent in the request header's status byte (§3.9).
const (
	FileInfoNoCRC  byte = 1 // do not compute the CRC32 of appender/slave files
	FileInfoSilent byte = 2 // the storage does not log a missing file
)

// FileInfo describes a stored file (docs/protocol.md §6.10).
type FileInfo struct {
	Kind          fileid.Kind // decoded from the name
	GetFromServer bool        // the values came from the storage, not the name
	SourceID      uint32      // server ID in the name, 0 when it holds an IP
	SourceIP      string
	CreateTime    int64 // Unix seconds: the name's timestamp, or the file mtime from the server
	Size          int64
	CRC32         uint32
}

// TypeName is the "file type" fdfs_file_info prints.
func (fi *FileInfo) TypeName() string {
	switch fi.Kind {
	case fileid.KindNormal, fileid.KindTrunk:
		return "normal"
	case fileid.KindAppender:
		return "appender"
	case fileid.KindSlave:
		return "slave"
	}
	return "unknown"
}

// QueryFileInfo asks the storage QUERY_FETCH_ONE names for the file's size,
// mtime, CRC32 and source IP (QUERY_FILE_INFO, 22); flags are FileInfo*.
// Kind and SourceID are left zero.
func (c *Client) QueryFileInfo(ctx context.Context, fileID string, flags byte) (*FileInfo, error) {
	body, err := groupRemoteBody(fileID)
	if err != nil {
		return nil, fmt.Errorf("query file info %s: %w", fileID, err)
	}
	fi := &FileInfo{GetFromServer: true}
	err = c.onStorage(ctx, fileID, false, func(cn *conn) error {
		b, err := cn.roundTrip(proto.CmdQueryFileInfo, flags, body, 3*8+proto.IPv6Size)
		if err != nil {
			return err
		}
		if len(b) != 3*8+proto.IPv4Size && len(b) != 3*8+proto.IPv6Size {
			return proto.Errf(proto.StatusEINVAL, "file info response of %d bytes", len(b))
		}
		r := &proto.Reader{B: b}
		fi.Size, fi.CreateTime = r.I64(), r.I64()
		fi.CRC32 = uint32(r.I64()) // sign-extended on the wire: keep the low 32 bits
		fi.SourceIP = proto.Fixed(r.Rest())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query file info %s: %w", fileID, err)
	}
	return fi, nil
}

// FileInfo decodes what a file ID tells (§6.10) and asks the storage only
// when the name cannot: slave and appender files, and names holding a
// server ID that storage_ids.conf (when loaded) does not resolve to an IP.
func (c *Client) FileInfo(ctx context.Context, fileID string, flags byte) (*FileInfo, error) {
	_, remote, err := fileid.Split(fileID)
	if err != nil {
		return nil, fmt.Errorf("file info %s: %w", fileID, err)
	}
	info, kind, err := fileid.Decode(remote)
	if err != nil {
		return nil, fmt.Errorf("file info %s: %w", fileID, err)
	}
	fi := &FileInfo{
		Kind:       kind,
		SourceID:   info.SourceID,
		SourceIP:   info.SourceIP,
		CreateTime: info.Timestamp,
		Size:       info.Size(),
		CRC32:      info.CRC32,
	}
	if fi.SourceID != 0 {
		fi.SourceIP = c.idIPs[fi.SourceID]
	}
	if kind == fileid.KindSlave || kind == fileid.KindAppender || fi.SourceIP == "" {
		srv, err := c.QueryFileInfo(ctx, fileID, flags)
		if err != nil {
			return nil, err
		}
		fi.GetFromServer = true
		fi.Size, fi.CreateTime, fi.CRC32, fi.SourceIP = srv.Size, srv.CreateTime, srv.CRC32, srv.SourceIP
	}
	return fi, nil
}
