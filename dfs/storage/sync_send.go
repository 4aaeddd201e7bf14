package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// errInvalidRecord marks a binlog record that cannot be replayed (docs/protocol.md §5.5
// "other": skipped only with file_sync_skip_invalid_record).
var errInvalidRecord = errors.New("invalid binlog record")

// Fixed parts of the sync request bodies (docs/protocol.md §5.4).
const (
	syncFileFixed   = 8 + 8 + 4 + proto.GroupNameLen     // CREATE/UPDATE: name len, size, ts, group
	syncPartFixed   = 8 + 8 + 8 + 4 + proto.GroupNameLen // APPEND/MODIFY/TRUNCATE
	syncLinkFixed   = 8 + 8 + 4 + proto.GroupNameLen     // CREATE_LINK/RENAME
	syncDeleteFixed = 4 + proto.GroupNameLen             // DELETE: ts, group
)

// syncInlineMax is the content size sent in the same write as the header.
const syncInlineMax = 64 << 10

// maxPeerResp bounds any answer read from a tracker or peer here.
const maxPeerResp = 64 << 10

// peerCall sends one request with an in-memory body on c and reads the
// answer. A non-zero status is returned as a proto.StatusError; I/O and
// protocol failures as other errors (the connection is then unusable).
func peerCall(c net.Conn, timeout time.Duration, cmd, status byte, body []byte) ([]byte, error) {
	c.SetDeadline(time.Now().Add(timeout))
	if err := proto.WritePacket(c, cmd, status, body); err != nil {
		return nil, fmt.Errorf("cmd %d: send: %w", cmd, err)
	}
	h, resp, err := readPeerAnswer(c, timeout)
	if err != nil {
		return nil, fmt.Errorf("cmd %d: %w", cmd, err)
	}
	if h.Status != 0 {
		return nil, fmt.Errorf("cmd %d: %w", cmd, proto.StatusError(h.Status))
	}
	return resp, nil
}

// readPeerAnswer reads one response packet (cmd 100) and its body.
func readPeerAnswer(c net.Conn, timeout time.Duration) (proto.Header, []byte, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	h, err := proto.ReadHeader(c)
	if err != nil {
		return h, nil, fmt.Errorf("read answer: %w", err)
	}
	if h.Cmd != proto.CmdResp {
		return h, nil, fmt.Errorf("answer cmd %d, want %d", h.Cmd, proto.CmdResp)
	}
	if h.PkgLen > maxPeerResp {
		return h, nil, fmt.Errorf("answer of %d bytes, limit %d", h.PkgLen, maxPeerResp)
	}
	b := make([]byte, h.PkgLen)
	if _, err := io.ReadFull(c, b); err != nil {
		return h, nil, fmt.Errorf("read answer body: %w", err)
	}
	return h, b, nil
}

// peerSend sends cmd with body followed by n bytes of f from off, and
// returns the answer's status. Only I/O failures are errors.
func peerSend(c net.Conn, timeout time.Duration, cmd, status byte, body []byte, f *os.File, off, n int64) (byte, error) {
	hdr := proto.Header{PkgLen: int64(len(body)) + n, Cmd: cmd, Status: status}
	inline := n > 0 && n <= syncInlineMax
	size := proto.HeaderSize + len(body)
	if inline {
		size += int(n)
	}
	buf := make([]byte, size)
	hdr.Encode(buf)
	copy(buf[proto.HeaderSize:], body)
	if inline {
		k, err := f.ReadAt(buf[proto.HeaderSize+len(body):], off)
		if int64(k) < n {
			return 0, fmt.Errorf("read local file (%d of %d bytes): %v", k, n, err)
		}
	}
	c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(buf); err != nil {
		return 0, fmt.Errorf("cmd %d: send: %w", cmd, err)
	}
	if !inline && n > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return 0, err
		}
		for left := n; left > 0; {
			chunk := min(left, sendChunk)
			c.SetWriteDeadline(time.Now().Add(timeout))
			k, err := io.Copy(c, io.LimitReader(f, chunk)) // sendfile(2)
			left -= k
			if err != nil {
				return 0, fmt.Errorf("cmd %d: send content: %w", cmd, err)
			}
			if k < chunk {
				return 0, fmt.Errorf("cmd %d: local file shrank while sending", cmd)
			}
		}
	}
	h, _, err := readPeerAnswer(c, timeout)
	if err != nil {
		return 0, fmt.Errorf("cmd %d: %w", cmd, err)
	}
	return h.Status, nil
}

// authConn proves the cluster secret on a new outgoing connection.
func (r *replication) authConn(c net.Conn) error {
	if r.secret == "" {
		return nil
	}
	if _, err := peerCall(c, r.s.timeout, proto.CmdClusterAuth, 0, proto.ClusterAuthBody(r.secret, wallNow())); err != nil {
		return fmt.Errorf("cluster auth: %w", err)
	}
	return nil
}

// push replays one record to the peer by the source-side rules of §5.5. It
// reports whether something was sent (for sync_row_count); skipped records
// are not errors.
func (sy *syncer) push(rec binlogRecord) (bool, error) {
	m := sy.m
	if !m.NeedSyncOld && m.UntilTimestamp > 0 && rec.TS < m.UntilTimestamp {
		return false, nil // older data is the new peer's sync source's job
	}
	old := m.NeedSyncOld && !m.SyncOldDone && rec.TS <= m.UntilTimestamp
	switch rec.Op {
	case 'c', 'u', 'd', 'l', 'r':
		if !old {
			return false, nil // replicas are pushed only as old data
		}
	case 'a', 'm', 't':
		return false, nil
	}
	switch rec.Op {
	case opCreate, 'c', 'r':
		// A replica rename pushed as old data is a create of the new name.
		if rec.Op == opCreate && sy.r.takeAcked(sy.id, rec.Name) {
			return false, nil // sync_ack_replicas already put it there
		}
		return sy.pushFile(rec.Name, proto.CmdSyncCreateFile, rec.TS)
	case opUpdate, 'u':
		return sy.pushFile(rec.Name, proto.CmdSyncUpdateFile, rec.TS)
	case opDelete, 'd':
		return sy.pushDelete(rec)
	case opAppend, opModify:
		return sy.pushPart(rec)
	case opTruncate:
		return sy.pushTruncate(rec)
	case opLink, 'l':
		return sy.pushTwoNames(rec, proto.CmdSyncCreateLink)
	case opRename:
		return sy.pushTwoNames(rec, proto.CmdSyncRenameFile)
	}
	return false, fmt.Errorf("op %q: %w", rec.Op, errInvalidRecord)
}

// localPath validates a logic filename from the binlog.
func (sy *syncer) localPath(name string) (string, error) {
	_, path, err := sy.s.parseRemote(name)
	if err != nil {
		return "", fmt.Errorf("%v: %w", err, errInvalidRecord)
	}
	return path, nil
}

// status answers that count as done for each kind of push.
func doneStatus(st byte, ok ...byte) bool {
	if st == 0 {
		return true
	}
	for _, o := range ok {
		if st == o {
			return true
		}
	}
	return false
}

// pushFile sends the whole local file with SYNC_CREATE_FILE or
// SYNC_UPDATE_FILE; a file that no longer exists is skipped. After an
// EEXIST the peer is asked first (QUERY_FILE_INFO) and files it already
// has with the same size are not sent again (§5.4).
func (sy *syncer) pushFile(name string, cmd byte, ts int64) (bool, error) {
	path, err := sy.localPath(name)
	if err != nil {
		return false, err
	}
	if ref, ok, err := sy.s.trunkRefOf(name); ok {
		if err != nil {
			return false, fmt.Errorf("%v: %w", err, errInvalidRecord)
		}
		return sy.pushTrunkFile(ref, cmd, ts) // trunk_writer.go
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, nil
	}
	size := fi.Size()
	if sy.lastFileExist && cmd == proto.CmdSyncCreateFile {
		if peerSize, ok, err := sy.peerFileSize(name); err != nil {
			return false, err
		} else if ok && peerSize == size {
			return false, nil
		} else if ok {
			cmd = proto.CmdSyncUpdateFile
		}
	}
	body := (&proto.Buf{}).I64(int64(len(name))).I64(size).I32(int32(ts)).
		Fixed(sy.s.group, proto.GroupNameLen).String(name).B
	st, err := peerSend(sy.conn, sy.s.timeout, cmd, 0, body, f, 0, size)
	sy.lastIO = time.Now()
	if err != nil {
		return false, err
	}
	if !doneStatus(st, proto.StatusEEXIST) {
		return false, fmt.Errorf("sync file %s: %w", name, proto.StatusError(st))
	}
	sy.lastFileExist = st == proto.StatusEEXIST
	sy.s.stats.add(proto.StatTotalSyncOutBytes, size)
	sy.s.stats.add(proto.StatSuccessSyncOutBytes, size)
	return true, nil
}

// peerFileSize asks the peer for a file's size (QUERY_FILE_INFO without
// CRC, silently); ok is false when it has no such file.
func (sy *syncer) peerFileSize(name string) (size int64, ok bool, err error) {
	if _, _, derr := fileid.Decode(name); derr != nil {
		return 0, false, nil // the peer could not answer for this name: just send
	}
	body := (&proto.Buf{}).Fixed(sy.s.group, proto.GroupNameLen).String(name).B
	resp, err := peerCall(sy.conn, sy.s.timeout, proto.CmdQueryFileInfo, infoFlagNoCRC|infoFlagSilent, body)
	sy.lastIO = time.Now()
	if err != nil {
		var se proto.StatusError
		if errors.As(err, &se) && byte(se) == proto.StatusENOENT {
			return 0, false, nil
		}
		return 0, false, err
	}
	if len(resp) < 8 {
		return 0, false, fmt.Errorf("query file info: answer of %d bytes", len(resp))
	}
	return proto.I64(resp), true, nil
}

// pushDelete sends SYNC_DELETE_FILE unless the file exists again locally.
func (sy *syncer) pushDelete(rec binlogRecord) (bool, error) {
	path, err := sy.localPath(rec.Name)
	if err != nil {
		return false, err
	}
	if err := sy.s.storedExists(rec.Name, path); err == nil {
		return false, nil // re-created since: nothing to delete
	}
	body := (&proto.Buf{}).I32(int32(rec.TS)).Fixed(sy.s.group, proto.GroupNameLen).String(rec.Name).B
	st, err := peerSend(sy.conn, sy.s.timeout, proto.CmdSyncDeleteFile, 0, body, nil, 0, 0)
	sy.lastIO = time.Now()
	if err != nil {
		return false, err
	}
	if !doneStatus(st, proto.StatusENOENT) {
		return false, fmt.Errorf("sync delete %s: %w", rec.Name, proto.StatusError(st))
	}
	return true, nil
}

// pushPart sends an append or modify with the bytes now in the local file;
// a peer that lacks the start answers ENOENT and gets the whole file, as
// does every peer when the local file no longer holds those bytes.
func (sy *syncer) pushPart(rec binlogRecord) (bool, error) {
	path, err := sy.localPath(rec.Name)
	if err != nil {
		return false, err
	}
	off, n, err := rec.TwoInts()
	if err != nil {
		return false, fmt.Errorf("%v: %w", err, errInvalidRecord)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, nil
	}
	if fi.Size() < off+n {
		// Truncated since: the bytes this record added are gone, so the
		// peer cannot be brought along record by record (a later truncate
		// would find the peer's file at another size and be skipped). The
		// whole file as it is now replaces the peer's; the records after
		// this one then find it already done.
		return sy.pushFile(rec.Name, proto.CmdSyncUpdateFile, rec.TS)
	}
	cmd := byte(proto.CmdSyncAppendFile)
	if rec.Op == opModify {
		cmd = proto.CmdSyncModifyFile
	}
	body := (&proto.Buf{}).I64(int64(len(rec.Name))).I64(off).I64(n).I32(int32(rec.TS)).
		Fixed(sy.s.group, proto.GroupNameLen).String(rec.Name).B
	st, err := peerSend(sy.conn, sy.s.timeout, cmd, 0, body, f, off, n)
	sy.lastIO = time.Now()
	if err != nil {
		return false, err
	}
	switch st {
	case 0, proto.StatusEEXIST:
		sy.s.stats.add(proto.StatTotalSyncOutBytes, n)
		sy.s.stats.add(proto.StatSuccessSyncOutBytes, n)
		return true, nil
	case proto.StatusENOENT:
		return sy.pushFile(rec.Name, proto.CmdSyncUpdateFile, rec.TS)
	}
	return false, fmt.Errorf("sync %c %s: %w", rec.Op, rec.Name, proto.StatusError(st))
}

// pushTruncate sends SYNC_TRUNCATE_FILE; a peer without the file gets it
// whole.
func (sy *syncer) pushTruncate(rec binlogRecord) (bool, error) {
	if _, err := sy.localPath(rec.Name); err != nil {
		return false, err
	}
	oldSize, newSize, err := rec.TwoInts()
	if err != nil {
		return false, fmt.Errorf("%v: %w", err, errInvalidRecord)
	}
	body := (&proto.Buf{}).I64(int64(len(rec.Name))).I64(oldSize).I64(newSize).I32(int32(rec.TS)).
		Fixed(sy.s.group, proto.GroupNameLen).String(rec.Name).B
	st, err := peerSend(sy.conn, sy.s.timeout, proto.CmdSyncTruncateFile, 0, body, nil, 0, 0)
	sy.lastIO = time.Now()
	if err != nil {
		return false, err
	}
	switch st {
	case 0, proto.StatusEEXIST:
		return true, nil
	case proto.StatusENOENT:
		return sy.pushFile(rec.Name, proto.CmdSyncUpdateFile, rec.TS)
	}
	return false, fmt.Errorf("sync truncate %s: %w", rec.Name, proto.StatusError(st))
}

// pushTwoNames sends SYNC_CREATE_LINK (link, target) or SYNC_RENAME_FILE
// (new, old). A rename the peer cannot do (no old file) becomes a create of
// the new name.
func (sy *syncer) pushTwoNames(rec binlogRecord, cmd byte) (bool, error) {
	first, second := rec.Name, strings.TrimSpace(rec.Extra)
	if _, err := sy.localPath(first); err != nil {
		return false, err
	}
	if _, err := sy.localPath(second); err != nil {
		return false, err
	}
	body := (&proto.Buf{}).I64(int64(len(first))).I64(int64(len(second))).I32(int32(rec.TS)).
		Fixed(sy.s.group, proto.GroupNameLen).String(first).String(second).B
	st, err := peerSend(sy.conn, sy.s.timeout, cmd, 0, body, nil, 0, 0)
	sy.lastIO = time.Now()
	if err != nil {
		return false, err
	}
	switch {
	case doneStatus(st, proto.StatusEEXIST):
		return true, nil
	case st == proto.StatusENOENT && cmd == proto.CmdSyncRenameFile:
		return sy.pushFile(first, proto.CmdSyncCreateFile, rec.TS)
	case st == proto.StatusENOENT:
		return true, nil // link target gone: nothing to link
	}
	return false, fmt.Errorf("sync %c %s: %w", rec.Op, rec.Name, proto.StatusError(st))
}

// trackerAddrs lists the trackers to ask, the leader first when known.
func (r *replication) trackerAddrs() []string {
	leader, _ := r.s.cluster.snapshot()
	var out []string
	if leader != "" {
		out = append(out, leader)
	}
	for _, t := range r.s.opts.TrackerServers {
		host, port, err := net.SplitHostPort(t)
		if err != nil {
			host, port = t, "22122"
		}
		if i := strings.IndexByte(host, ','); i >= 0 {
			host = host[:i]
		}
		if a := net.JoinHostPort(host, port); a != leader {
			out = append(out, a)
		}
	}
	return out
}

// trackerCall runs one command on a short-lived tracker connection (cluster
// auth first, QUIT last).
func (r *replication) trackerCall(addr string, cmd byte, body []byte) ([]byte, error) {
	s := r.s
	c, err := s.dialTracked(addr)
	if err != nil {
		return nil, err
	}
	defer s.closeTracked(c)
	resp, err := peerCall(c, s.timeout, cmd, 0, body)
	if err == nil || isStatus(err) {
		c.SetWriteDeadline(time.Now().Add(s.timeout))
		proto.WritePacket(c, proto.CmdQuit, 0, nil)
	}
	return resp, err
}

// syncSrcReq asks SYNC_SRC_REQ (86, §4.5) who pushes the old data to dest.
// The first tracker that answers decides; network failures try the next.
func (r *replication) syncSrcReq(destID string) (proto.SyncReq, error) {
	body := (&proto.Buf{}).Fixed(r.s.group, proto.GroupNameLen).Fixed(destID, proto.StorageIDLen).B
	var lastErr error
	for _, addr := range r.trackerAddrs() {
		resp, err := r.trackerCall(addr, proto.CmdStorageSyncSrcReq, body)
		if err != nil {
			lastErr = fmt.Errorf("sync src req to %s: %w", addr, err)
			if isStatus(err) {
				return proto.SyncReq{}, lastErr
			}
			continue
		}
		switch len(resp) {
		case 0:
			return proto.SyncReq{}, nil
		case proto.SyncReqSize:
			return proto.DecodeSyncReq(resp)
		}
		return proto.SyncReq{}, fmt.Errorf("sync src req to %s: answer of %d bytes", addr, len(resp))
	}
	if lastErr == nil {
		lastErr = errors.New("no tracker configured")
	}
	return proto.SyncReq{}, lastErr
}

// reportStatus sends REPORT_STATUS (76, §4.6) about a peer to every tracker.
func (r *replication) reportStatus(b proto.StorageBrief) {
	w := (&proto.Buf{}).Fixed(r.s.group, proto.GroupNameLen)
	b.Append(w)
	for _, addr := range r.trackerAddrs() {
		if _, err := r.trackerCall(addr, proto.CmdStorageReportStatus, w.B); err != nil {
			r.log.Warn().Err(err).Str("tracker", addr).Str("storage", b.ID).Msg("report status")
		}
	}
}
