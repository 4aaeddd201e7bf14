package app

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/store"
)

// Chunked, resumable uploads (docs/api.md §1.15): /chunk?cmd=init|put|
// status|finish|abort|list. A file of up to max_chunked_upload_bytes is
// sent in chunks of at most chunk_size bytes, each checked against the
// sha256 the client sends, appended to a DFS appender file and only then
// recorded as committed (upload_session). The md5 of the whole file is
// carried from chunk to chunk as the digest's marshalled state, so finish
// never reads the file again.
const (
	CodeChunkOK       = "080" // init, put, status, abort, list done
	CodeChunkFail     = "081" // bad request or server failure
	CodeChunkOffset   = "082" // the offset is not the committed one: "offset" says where to go on
	CodeChunkHash     = "083" // the chunk's bytes do not match its X-Chunk-SHA256: send it again
	CodeChunkBusy     = "084" // another request on this upload is running: try again shortly
	CodeChunkNoUpload = "085" // no such upload (unknown, expired, finished, cancelled, another user's)
	CodeChunkPartial  = "086" // finish before every byte is committed: "offset" says how far it is
	CodeChunkTooLarge = "087" // a file over max_chunked_upload_bytes, or a chunk over the chunk size
	CodeChunkLost     = "089" // the stored copy failed its check at finish: the upload is dropped, start again
)

// chunkLease bounds how long one request holds an upload session: longer
// than a put's DFS calls can take (each has the client's network
// deadline), so that a lease only runs out for a request that died.
const chunkLease = 2 * time.Minute

// maxChunkPuts bounds the chunk bodies one program holds in memory at once.
const maxChunkPuts = 8

// A put's body comes with its sha256 hex in chunkSHA256Header, or its md5
// hex in chunkMD5Header (for pages served over plain HTTP, where browsers
// offer no SHA-256).
const (
	chunkSHA256Header = "X-Chunk-SHA256"
	chunkMD5Header    = "X-Chunk-MD5"
)

// chunkReq is the JSON body of every cmd but put.
type chunkReq struct {
	User      string  `json:"user"`
	Token     string  `json:"token"`
	ID        string  `json:"id"`
	MD5       string  `json:"md5"`
	Filename  string  `json:"filename"`
	FileNameC string  `json:"fileName"`
	FileNameD string  `json:"file_name"`
	Size      flexInt `json:"size"`
	ChunkSize flexInt `json:"chunk_size"`
}

func (q *chunkReq) name() string {
	return (&req{Filename: q.Filename, FileNameC: q.FileNameC, FileNameD: q.FileNameD}).name()
}

// handleChunk is /chunk.
func (a *App) handleChunk(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeChunkFail, http.MethodPost) {
		return
	}
	cmd := r.URL.Query().Get("cmd")
	if cmd == "put" {
		a.chunkPut(w, r)
		return
	}
	var q chunkReq
	switch cmd {
	case "init", "status", "finish", "abort", "list":
	default:
		a.failErr(w, r, badRequest("unknown cmd %q (want init, put, status, finish, abort or list)", clip(cmd, 20)), CodeChunkFail)
		return
	}
	if err := readJSON(w, r, &q, cmd == "list"); err != nil {
		a.failErr(w, r, err, CodeChunkFail)
		return
	}
	user, err := a.auth(r, q.User, q.Token)
	if err != nil {
		a.failErr(w, r, err, CodeChunkFail)
		return
	}
	switch cmd {
	case "init":
		a.chunkInit(w, r, user, &q)
	case "status":
		a.chunkStatus(w, r, user, q.ID)
	case "finish":
		a.chunkFinish(w, r, user, q.ID)
	case "abort":
		a.chunkAbort(w, r, user, q.ID)
	case "list":
		a.chunkList(w, r, user)
	}
}

// chunkSize is the chunk size the server hands out for a request of want
// bytes (0: no wish): chunk_size, or less when asked, never below
// config.MinChunkSize, and never above max_upload_bytes, so that a put
// always fits the web server's limit for streamed bodies.
func (a *App) chunkSize(want int64) int64 {
	n := min(a.cfg.ChunkSize, a.cfg.MaxUploadBytes)
	if want > 0 && want < n {
		n = max(want, 64<<10)
	}
	return n
}

// checkChunkedQuota refuses (store.ErrQuota) a chunked upload of size
// bytes the user's quota cannot take now, before a chunk is sent; finish
// checks again when it records the file.
func (a *App) checkChunkedQuota(ctx context.Context, user string, size int64) error {
	return a.st.CheckQuota(ctx, user, size)
}

// chunkInit starts an upload: {filename, size, md5?, chunk_size?} →
// 080 {id, chunk_size, offset: 0}.
func (a *App) chunkInit(w http.ResponseWriter, r *http.Request, user string, q *chunkReq) {
	name := canonicalName(q.name())
	if !store.ValidFileName(name) {
		a.failErr(w, r, badRequest("invalid file name"), CodeChunkFail)
		return
	}
	if err := store.CheckNewName(name); err != nil {
		a.failErr(w, r, err, CodeChunkFail)
		return
	}
	m := strings.ToLower(strings.TrimSpace(q.MD5))
	if m != "" && !store.ValidMD5(m) {
		a.failErr(w, r, badRequest("md5 must be 32 hex digits"), CodeChunkFail)
		return
	}
	size := int64(q.Size.n)
	if !q.Size.set || size <= 0 {
		a.failErr(w, r, badRequest("size must be a byte count of at least 1"), CodeChunkFail)
		return
	}
	if size > a.cfg.MaxChunkedUploadBytes {
		a.reply(w, http.StatusRequestEntityTooLarge, map[string]any{"code": CodeChunkTooLarge,
			"msg": fmt.Sprintf("files are limited to %d bytes", a.cfg.MaxChunkedUploadBytes)})
		return
	}
	if err := a.checkChunkedQuota(r.Context(), user, size); err != nil {
		a.failErr(w, r, err, CodeChunkFail)
		return
	}
	state, err := md5.New().(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		a.failErr(w, r, err, CodeChunkFail)
		return
	}
	s := &store.Session{User: user, FileName: name, Size: size, ChunkSize: a.chunkSize(int64(q.ChunkSize.n)), MD5: m, MD5State: state}
	if err := a.st.NewSession(r.Context(), s, a.cfg.ChunkSessionTTL); err != nil {
		a.failErr(w, r, err, CodeChunkFail)
		return
	}
	a.ok(w, CodeChunkOK, map[string]any{"id": s.ID, "chunk_size": s.ChunkSize, "offset": 0, "size": size,
		"file_name": name, "expires_in": int64(a.cfg.ChunkSessionTTL / time.Second)})
}

// chunkPut stores one chunk: POST /chunk?cmd=put&id=&offset= with the
// chunk as the body and its hash (chunkCheck). The token comes from the
// Authorization header or the cookie and is checked before a byte of the
// body is read. 080 {offset} (the new committed offset);
// a retry of the last committed chunk is 080 too, without its body being
// read.
func (a *App) chunkPut(w http.ResponseWriter, r *http.Request) {
	user, err := a.auth(r, "", "")
	if err != nil {
		a.failErr(w, r, err, CodeChunkFail)
		return
	}
	qs := r.URL.Query()
	id := qs.Get("id")
	offset, err := strconv.ParseInt(qs.Get("offset"), 10, 64)
	if err != nil || offset < 0 {
		a.failErr(w, r, badRequest("offset must be a byte offset"), CodeChunkFail)
		return
	}
	want, err := chunkCheck(r)
	if err != nil {
		a.failErr(w, r, err, CodeChunkFail)
		return
	}
	ctx := r.Context()
	s, err := a.st.SessionOf(ctx, user, id)
	if err != nil {
		a.chunkErr(w, r, err)
		return
	}
	if offset != s.Committed || s.Final {
		if offset == s.LastOffset && want == s.LastCheck {
			a.ok(w, CodeChunkOK, map[string]any{"offset": s.Committed, "size": s.Size})
			return
		}
		a.chunkOffset(w, s, "")
		return
	}
	if s.Committed == s.Size {
		a.chunkOffset(w, s, "every byte is stored: finish the upload")
		return
	}
	n := min(s.ChunkSize, s.Size-s.Committed)
	if r.ContentLength > s.ChunkSize {
		a.reply(w, http.StatusRequestEntityTooLarge, map[string]any{"code": CodeChunkTooLarge,
			"msg": fmt.Sprintf("chunks are limited to %d bytes", s.ChunkSize)})
		return
	}
	if r.ContentLength >= 0 && r.ContentLength != n {
		a.failErr(w, r, badRequest("this chunk must have %d bytes (the chunk size, or what is left of the file)", n), CodeChunkFail)
		return
	}
	// At most maxChunkPuts bodies are held in memory, from their first
	// byte read to their answer.
	select {
	case a.chunkSlots <- struct{}{}:
		defer func() { <-a.chunkSlots }()
	case <-ctx.Done():
		a.chunkErr(w, r, ctx.Err())
		return
	}
	// The chunk's own check runs while the body arrives; the file's md5
	// (the slowest of the sums) and CRC32 then run beside the lease and
	// the DFS write, and are waited for before anything is recorded.
	sums, err := newChunkSums(s, want)
	if err != nil {
		a.chunkErr(w, r, err)
		return
	}
	buf, err := a.readChunk(w, r, n, s.ChunkSize, sums.chk)
	if err != nil {
		a.chunkErr(w, r, err)
		return
	}
	if sums.check() != want {
		a.reply(w, http.StatusBadRequest, map[string]any{"code": CodeChunkHash, "offset": s.Committed,
			"msg": "the chunk does not match its hash: send it again"})
		return
	}
	sums.start(buf)
	defer sums.wait()
	s, err = a.st.LeaseSession(ctx, user, id, offset, chunkLease)
	if err != nil {
		a.chunkErr(w, r, err)
		return
	}
	if !s.Leased() { // another request committed meanwhile
		if offset == s.LastOffset && want == s.LastCheck {
			a.ok(w, CodeChunkOK, map[string]any{"offset": s.Committed, "size": s.Size})
			return
		}
		a.chunkOffset(w, s, "")
		return
	}
	// Committed is still offset (the lease was taken at it), so the md5
	// state the sums started from is the recorded one.
	if err := a.appendChunk(ctx, s, buf, sums); err != nil {
		a.releaseSession(s, true)
		a.chunkErr(w, r, err)
		return
	}
	s.LastOffset, s.LastCheck = offset, want
	if err := a.st.CommitChunk(ctx, s, a.cfg.ChunkSessionTTL); err != nil {
		a.releaseSession(s, true)
		a.chunkErr(w, r, err)
		return
	}
	a.ok(w, CodeChunkOK, map[string]any{"offset": s.Committed, "size": s.Size})
}

// readChunk reads a put's body of exactly n bytes (at most limit), feeding
// chk as it comes.
func (a *App) readChunk(w http.ResponseWriter, r *http.Request, n, limit int64, chk io.Writer) ([]byte, error) {
	body := io.TeeReader(http.MaxBytesReader(w, r.Body, limit), chk)
	buf := make([]byte, n)
	if k, err := io.ReadFull(body, buf); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: chunks are limited to %d bytes", errTooLarge, limit)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, badRequest("the chunk ends after %d of %d bytes", k, n)
		}
		return nil, badRequest("read chunk: %v", err)
	}
	var one [1]byte
	if k, _ := io.ReadFull(body, one[:]); k > 0 {
		return nil, badRequest("this chunk must have %d bytes (the chunk size, or what is left of the file)", n)
	}
	return buf, nil
}

// appendChunk stores buf at s.Committed in the DFS and advances s to the
// state in sums (not yet recorded). The first chunk creates the appender
// file. Before an append to a dirty session, the file's real size is
// compared with the committed offset: a request that appended and died
// before recording it left more bytes than recorded, which are cut off
// again. (A clean session skips the two round trips this takes; should
// its file differ all the same, finish finds it by size and CRC32.)
func (a *App) appendChunk(ctx context.Context, s *store.Session, buf []byte, sums *chunkSums) error {
	if s.FileID == "" {
		id, err := a.dfs.UploadAppender(ctx, bytes.NewReader(buf), int64(len(buf)), fileExt(s.FileName))
		if err != nil {
			return dfsErr(err)
		}
		s.FileID = id
	} else {
		if s.Dirty {
			if err := a.repairAppender(ctx, s); err != nil {
				return err
			}
		}
		if err := a.dfs.AppendBuffer(ctx, s.FileID, buf); err != nil {
			if isNotFound(err) {
				return fmt.Errorf("%w: %w", errChunkLost, err)
			}
			return dfsErr(err)
		}
	}
	sums.wait()
	state, err := sums.md5.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	s.MD5State, s.CRC32 = state, sums.crc
	s.Committed += int64(len(buf))
	return nil
}

// chunkSums are a chunk's hashes: its check (sha256 or md5, as the client
// sent it), fed as the body arrives, and the whole file's md5 and CRC32
// carried on from the session's committed state, computed by start in a
// goroutine of their own.
type chunkSums struct {
	md5    hash.Hash // the file's, from the session's state
	crc    uint32    // the file's
	chk    hash.Hash // the chunk's own
	prefix string    // "md5:" when chk is md5
	done   chan struct{}
}

func newChunkSums(s *store.Session, want string) (*chunkSums, error) {
	h := md5.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(s.MD5State); err != nil {
		return nil, fmt.Errorf("md5 state of the upload: %w", err)
	}
	c := &chunkSums{md5: h, crc: s.CRC32, chk: sha256.New()}
	if strings.HasPrefix(want, "md5:") {
		c.chk, c.prefix = md5.New(), "md5:"
	}
	return c, nil
}

// start adds buf to the file's md5 and CRC32 in a goroutine; wait waits
// for it (every request that started it waits, so none outlives it).
func (c *chunkSums) start(buf []byte) {
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		c.md5.Write(buf)
		c.crc = crc32.Update(c.crc, crc32.IEEETable, buf)
	}()
}

func (c *chunkSums) wait() {
	if c.done != nil {
		<-c.done
	}
}

// check is the chunk's hash in the form chunkCheck gives.
func (c *chunkSums) check() string { return c.prefix + hex.EncodeToString(c.chk.Sum(nil)) }

// errChunkLost: the appender file holds fewer bytes than were recorded
// (deleted or cut by something else): the upload cannot go on.
var errChunkLost = errors.New("the stored part of the upload is gone")

// repairAppender makes the appender file of leased s exactly s.Committed
// bytes long: longer means an append whose recording never happened.
func (a *App) repairAppender(ctx context.Context, s *store.Session) error {
	fi, err := a.dfs.QueryFileInfo(ctx, s.FileID, client.FileInfoNoCRC)
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("%w: %w", errChunkLost, err)
		}
		return dfsErr(err)
	}
	switch {
	case fi.Size == s.Committed:
		return nil
	case fi.Size < s.Committed:
		return fmt.Errorf("%w: %d bytes stored, %d recorded", errChunkLost, fi.Size, s.Committed)
	}
	a.log.Info().Str("file_id", s.FileID).Int64("size", fi.Size).Int64("committed", s.Committed).
		Msg("chunked upload: cutting bytes appended but never recorded")
	if err := a.dfs.TruncateFile(ctx, s.FileID, s.Committed); err != nil {
		return dfsErr(err)
	}
	return nil
}

// releaseSession gives a lease back, whatever the request's context says;
// dirty when the DFS file may hold bytes past the committed offset.
func (a *App) releaseSession(s *store.Session, dirty bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.st.ReleaseSession(ctx, s, dirty); err != nil {
		a.log.Warn().Err(err).Msg("upload session lease not released; it runs out by itself")
	}
}

// chunkStatus answers where the upload stands: 080 {offset, size,
// chunk_size, file_name}. When no request holds the session, the
// appender file is checked against the committed offset first (and cut
// back if a put died between the DFS and the database).
func (a *App) chunkStatus(w http.ResponseWriter, r *http.Request, user, id string) {
	ctx := r.Context()
	s, err := a.st.LeaseSession(ctx, user, id, -1, chunkLease)
	switch {
	case errors.Is(err, store.ErrSessionBusy):
		s, err = a.st.SessionOf(ctx, user, id)
	case err == nil && s.FileID != "" && !s.Final:
		err = a.repairAppender(ctx, s)
		a.releaseSession(s, err != nil)
	case err == nil:
		a.releaseSession(s, s.Dirty)
	}
	if err != nil {
		a.chunkErr(w, r, err)
		return
	}
	a.ok(w, CodeChunkOK, sessionJSON(s, a.cfg.ChunkSessionTTL))
}

func sessionJSON(s *store.Session, ttl time.Duration) map[string]any {
	return map[string]any{"id": s.ID, "file_name": s.FileName, "size": s.Size, "chunk_size": s.ChunkSize,
		"offset": s.Committed, "create_time": s.Created.UTC().Format(time.RFC3339),
		"update_time": s.Updated.UTC().Format(time.RFC3339), "expires_in": max(0, int64(time.Until(s.Expires)/time.Second))}
}

// chunkFinish records a complete upload as /upload does: 008 {md5,
// file_name, size}. The appender file becomes a normal file
// (REGENERATE_APPENDER_FILENAME), whose new name carries the size and
// CRC32 the storage computed: they must match what was committed. Known
// content is referenced and the new copy deleted.
func (a *App) chunkFinish(w http.ResponseWriter, r *http.Request, user, id string) {
	ctx := r.Context()
	s, err := a.st.LeaseSession(ctx, user, id, -1, chunkLease)
	if err != nil {
		a.chunkErr(w, r, err)
		return
	}
	out, err := a.finishSession(ctx, s)
	if err != nil {
		if s.Leased() {
			a.releaseSession(s, s.Dirty)
		}
		a.chunkErr(w, r, err)
		return
	}
	if out == nil {
		a.releaseSession(s, s.Dirty)
		a.reply(w, http.StatusConflict, map[string]any{"code": CodeChunkPartial, "offset": s.Committed, "size": s.Size,
			"msg": fmt.Sprintf("%d of %d bytes stored: send the rest first", s.Committed, s.Size)})
		return
	}
	a.ok(w, CodeUploadOK, out)
}

// finishSession does chunkFinish's work on leased s; nil, nil when the
// upload is not complete.
func (a *App) finishSession(ctx context.Context, s *store.Session) (map[string]any, error) {
	if s.Committed != s.Size {
		return nil, nil
	}
	h := md5.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(s.MD5State); err != nil {
		return nil, fmt.Errorf("md5 state of the upload: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	out := map[string]any{"md5": sum, "file_name": s.FileName, "size": s.Size}
	ctx = context.WithoutCancel(ctx) // past this point the work is finished even if the client goes
	if s.Final {
		// A finish whose answer was lost: the file may be recorded already.
		recorded, err := a.st.FileIDRecorded(ctx, s.FileID)
		if err != nil {
			return nil, err
		}
		if recorded {
			return out, a.dropSession(ctx, s, false)
		}
	} else {
		if err := a.finalize(ctx, s); err != nil {
			return nil, err
		}
	}
	if s.MD5 != "" && s.MD5 != sum {
		a.dropLost(ctx, s)
		return nil, badRequest("md5 mismatch: the upload hashes to %s; the upload is dropped", sum)
	}
	typ := fileExt(s.FileName)
	if typ == "" {
		typ = "null"
	}
	res, err := a.st.AddUploaded(ctx, store.NewFile{User: s.User, MD5: sum, FileName: s.FileName, FileID: s.FileID,
		URL: a.fileURL(s.FileID), Size: s.Size, Type: typ})
	switch {
	case errors.Is(err, store.ErrCommitUnknown):
		if !a.settleUnknownCommit(ctx, s.FileID) {
			return nil, err
		}
	case errors.Is(err, store.ErrExists):
		out["msg"] = "already in your files"
		return out, a.dropSession(ctx, s, true)
	case errors.Is(err, store.ErrQuota):
		// The space went to other files meanwhile: the upload cannot be
		// kept.
		if derr := a.dropSession(ctx, s, true); derr != nil {
			a.log.Warn().Err(derr).Msg("chunked upload over quota: not dropped; the collector will")
		}
		return nil, err
	case err != nil:
		return nil, err
	case res.Dup:
		a.discard(ctx, s.FileID, res.GCID, "duplicate")
	}
	if res.FileName != "" {
		out["file_name"] = res.FileName // a free "stem (n).ext" when the name was taken
	}
	return out, a.dropSession(ctx, s, false)
}

// finalize turns the complete appender file of s into a normal file and
// checks it: the storage puts the size and CRC32 of the content into the
// new name, which must be what the puts committed.
func (a *App) finalize(ctx context.Context, s *store.Session) error {
	newID, err := a.dfs.RegenerateAppenderFilename(ctx, s.FileID)
	if err != nil {
		if isNotFound(err) {
			a.dropLost(ctx, s)
			return fmt.Errorf("%w: %w", errChunkLost, err)
		}
		return dfsErr(err)
	}
	s.FileID = newID
	if err := a.st.MarkFinal(ctx, s); err != nil {
		return err
	}
	_, remote, err := fileid.Split(newID)
	if err == nil {
		var info fileid.Info
		info, _, err = fileid.Decode(remote)
		if err == nil && (info.Size() != s.Size || info.CRC32 != s.CRC32) {
			err = fmt.Errorf("stored %d bytes with CRC32 %08x, committed %d with %08x", info.Size(), info.CRC32, s.Size, s.CRC32)
		}
	}
	if err != nil {
		a.log.Error().Err(err).Str("file_id", newID).Msg("chunked upload: the stored file differs from what was committed; dropped")
		a.dropLost(ctx, s)
		return fmt.Errorf("%w: the stored file differs from what was sent", errChunkLost)
	}
	return nil
}

// dropLost removes a session whose stored copy cannot be used, with its
// DFS file.
func (a *App) dropLost(ctx context.Context, s *store.Session) {
	if err := a.dropSession(ctx, s, true); err != nil {
		a.log.Warn().Err(err).Msg("chunked upload: session not dropped; it expires by itself")
	}
	s.FileID = ""
}

// dropSession removes the session row; with deleteFile its DFS file goes
// too (queued in dfs_gc in the same transaction, then deleted here).
func (a *App) dropSession(ctx context.Context, s *store.Session, deleteFile bool) error {
	gcID, err := a.st.DropSession(ctx, s, deleteFile, "chunk-aborted")
	if err != nil {
		return err
	}
	if gcID > 0 {
		a.discard(ctx, s.FileID, gcID, "chunk-aborted")
	}
	return nil
}

// chunkAbort cancels an upload and deletes what it stored: 080.
func (a *App) chunkAbort(w http.ResponseWriter, r *http.Request, user, id string) {
	s, err := a.st.LeaseSession(r.Context(), user, id, -1, chunkLease)
	if err == nil {
		err = a.dropSession(context.WithoutCancel(r.Context()), s, true)
	}
	if err != nil {
		a.chunkErr(w, r, err)
		return
	}
	a.ok(w, CodeChunkOK, nil)
}

// chunkList lists the user's unfinished uploads (so that a restarted
// browser can offer to resume them): 080 {sessions: [...], chunk_size}.
func (a *App) chunkList(w http.ResponseWriter, r *http.Request, user string) {
	ss, err := a.st.ListSessions(r.Context(), user)
	if err != nil {
		a.failErr(w, r, err, CodeChunkFail)
		return
	}
	list := make([]map[string]any, 0, len(ss))
	for _, s := range ss {
		list = append(list, sessionJSON(s, a.cfg.ChunkSessionTTL))
	}
	a.ok(w, CodeChunkOK, map[string]any{"sessions": list, "chunk_size": a.chunkSize(0),
		"max_size": a.cfg.MaxChunkedUploadBytes})
}

// chunkOffset answers 082 with where the upload stands.
func (a *App) chunkOffset(w http.ResponseWriter, s *store.Session, msg string) {
	if msg == "" {
		msg = fmt.Sprintf("the upload stands at %d bytes: go on from there", s.Committed)
	}
	a.reply(w, http.StatusConflict, map[string]any{"code": CodeChunkOffset, "offset": s.Committed, "size": s.Size, "msg": msg})
}

// chunkErr answers the errors of the /chunk commands with their codes.
func (a *App) chunkErr(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrSessionBusy):
		a.reply(w, http.StatusConflict, map[string]any{"code": CodeChunkBusy,
			"msg": "another request on this upload is running: try again shortly"})
	case errors.Is(err, store.ErrNotFound) && !errors.Is(err, errDFS):
		a.reply(w, http.StatusNotFound, map[string]any{"code": CodeChunkNoUpload,
			"msg": "no such upload (unknown, expired, finished or cancelled): start it again"})
	case errors.Is(err, errChunkLost):
		a.log.Warn().Err(err).Msg("chunked upload lost")
		a.reply(w, http.StatusConflict, map[string]any{"code": CodeChunkLost,
			"msg": "the stored part of this upload is lost: start it again"})
	case errors.Is(err, errTooLarge):
		a.reply(w, http.StatusRequestEntityTooLarge, map[string]any{"code": CodeChunkTooLarge, "msg": publicText(err)})
	default:
		a.failErr(w, r, err, CodeChunkFail)
	}
}

// chunkCheck is the hash a put's body must have, as "<sha256 hex>" or
// "md5:<md5 hex>": from chunkSHA256Header, chunkMD5Header, or the query's
// sha256 or md5 (for clients that cannot set headers).
func chunkCheck(r *http.Request) (string, error) {
	qs := r.URL.Query()
	for _, c := range []struct {
		v, prefix string
		n         int
	}{
		{r.Header.Get(chunkSHA256Header), "", 64},
		{r.Header.Get(chunkMD5Header), "md5:", 32},
		{qs.Get("sha256"), "", 64},
		{qs.Get("md5"), "md5:", 32},
	} {
		v := strings.ToLower(strings.TrimSpace(c.v))
		if v == "" {
			continue
		}
		if len(v) != c.n || !isHexString(v) {
			break
		}
		return c.prefix + v, nil
	}
	return "", badRequest("a put needs the chunk's sha256 (%s header) or md5 (%s header) in hex", chunkSHA256Header, chunkMD5Header)
}

func isHexString(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}
