package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/fcgi/config"
)

const testChunk = 64 << 10

func chunkEnv(t *testing.T) *env {
	cfg := testConfig(t, config.UploadInProcess)
	cfg.ChunkSize = testChunk
	return newEnv(t, cfg)
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (e *env) chunkCmd(tok, cmd string, body map[string]any) resp {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	body["token"] = tok
	return e.post("/chunk?cmd="+cmd, body)
}

func (e *env) chunkInit(tok, name string, size int) string {
	e.t.Helper()
	r := e.chunkCmd(tok, "init", map[string]any{"filename": name, "size": size})
	expect(e.t, r, http.StatusOK, CodeChunkOK)
	require.EqualValues(e.t, testChunk, r.json["chunk_size"])
	require.EqualValues(e.t, 0, r.json["offset"])
	id, _ := r.json["id"].(string)
	require.Len(e.t, id, 32)
	return id
}

func (e *env) chunkPut(tok, id string, off int, data []byte, hash string) resp {
	e.t.Helper()
	if hash == "" {
		hash = sha(data)
	}
	return e.do(http.MethodPost, fmt.Sprintf("/chunk?cmd=put&id=%s&offset=%d", id, off), data,
		map[string]string{"Authorization": "Bearer " + tok, "X-Chunk-SHA256": hash})
}

// putAll sends content from off to the end, chunk by chunk.
func (e *env) putAll(tok, id string, content []byte, off int) {
	e.t.Helper()
	for off < len(content) {
		end := min(off+testChunk, len(content))
		r := e.chunkPut(tok, id, off, content[off:end], "")
		expect(e.t, r, http.StatusOK, CodeChunkOK)
		require.EqualValues(e.t, end, r.json["offset"])
		off = end
	}
}

// sessionFileID is the DFS file of an upload (read from the database).
func (e *env) sessionFileID(id string) string {
	e.t.Helper()
	var fid string
	require.NoError(e.t, e.a.st.DB().QueryRow("SELECT file_id FROM upload_session WHERE upload_id = ?", id).Scan(&fid))
	return fid
}

func (e *env) dfsSize(fileID string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fi, err := e.a.dfs.QueryFileInfo(ctx, fileID, client.FileInfoNoCRC)
	if err != nil {
		return 0, err
	}
	return fi.Size, nil
}

// A multi-chunk upload whose size is no multiple of the chunk size ends as
// a normal DFS file, byte for byte the source, with the right md5; a
// repeated chunk is answered as done; status and list tell where it stands.
func TestChunkUpload(t *testing.T) {
	e := chunkEnv(t)
	tok := e.user("chunk_up")
	content := randBytes(3*testChunk + 12345)
	id := e.chunkInit(tok, "big.bin", len(content))

	r := e.chunkCmd(tok, "list", nil)
	expect(t, r, http.StatusOK, CodeChunkOK)
	ss, _ := r.json["sessions"].([]any)
	require.Len(t, ss, 1)
	require.Equal(t, "big.bin", ss[0].(map[string]any)["file_name"])
	require.Equal(t, id, ss[0].(map[string]any)["id"])
	require.EqualValues(t, testChunk, r.json["chunk_size"])

	first := content[:testChunk]
	expect(t, e.chunkPut(tok, id, 0, first, ""), http.StatusOK, CodeChunkOK)
	// The same chunk again (its answer was lost): done, nothing appended.
	r = e.chunkPut(tok, id, 0, first, "")
	expect(t, r, http.StatusOK, CodeChunkOK)
	require.EqualValues(t, testChunk, r.json["offset"])
	size, err := e.dfsSize(e.sessionFileID(id))
	require.NoError(t, err)
	require.EqualValues(t, testChunk, size)

	r = e.chunkCmd(tok, "status", map[string]any{"id": id})
	expect(t, r, http.StatusOK, CodeChunkOK)
	require.EqualValues(t, testChunk, r.json["offset"])
	require.EqualValues(t, len(content), r.json["size"])

	e.putAll(tok, id, content, testChunk)
	// The last chunk again: done; another chunk at the end: the offset.
	last := 3 * testChunk
	r = e.chunkPut(tok, id, last, content[last:], "")
	expect(t, r, http.StatusOK, CodeChunkOK)
	require.EqualValues(t, len(content), r.json["offset"])
	r = e.chunkPut(tok, id, len(content), []byte("more"), "")
	expect(t, r, http.StatusConflict, CodeChunkOffset)
	require.EqualValues(t, len(content), r.json["offset"])
	r = e.chunkCmd(tok, "finish", map[string]any{"id": id})
	expect(t, r, http.StatusOK, CodeUploadOK)
	require.Equal(t, sum(content), r.json["md5"])
	require.EqualValues(t, len(content), r.json["size"])

	fid := e.fileID(sum(content))
	_, remote, err := fileid.Split(fid)
	require.NoError(t, err)
	_, kind, err := fileid.Decode(remote)
	require.NoError(t, err)
	require.Equal(t, fileid.KindNormal, kind, "the appender file is regenerated into a normal file")
	d := e.download("chunk_up", tok, sum(content), "big.bin")
	require.Equal(t, http.StatusOK, d.status, "%d", d.status)
	require.True(t, bytes.Equal(content, d.body), "downloaded bytes differ")

	// Finished: the session is gone.
	expect(t, e.chunkCmd(tok, "status", map[string]any{"id": id}), http.StatusNotFound, CodeChunkNoUpload)
	r = e.chunkCmd(tok, "list", nil)
	require.Empty(t, r.json["sessions"])
}

// Every refusal has its code, and none of them changes what is stored.
func TestChunkRefusals(t *testing.T) {
	e := chunkEnv(t)
	tok := e.user("chunk_ref")
	other := e.user("chunk_other")
	content := randBytes(2*testChunk + 7)
	id := e.chunkInit(tok, "r.bin", len(content))

	// No token, a bad cmd, bad init fields, a file over the limit.
	r := e.do(http.MethodPost, "/chunk?cmd=put&id="+id+"&offset=0", content[:testChunk], map[string]string{"X-Chunk-SHA256": sha(content[:testChunk])})
	expect(t, r, http.StatusUnauthorized, CodeTokenBad)
	expect(t, e.chunkCmd(tok, "nope", nil), http.StatusBadRequest, CodeChunkFail)
	expect(t, e.chunkCmd(tok, "init", map[string]any{"filename": "x", "size": 0}), http.StatusBadRequest, CodeChunkFail)
	expect(t, e.chunkCmd(tok, "init", map[string]any{"filename": "a/b", "size": 10}), http.StatusBadRequest, CodeChunkFail)
	expect(t, e.chunkCmd(tok, "init", map[string]any{"filename": "x", "size": 10, "md5": "zz"}), http.StatusBadRequest, CodeChunkFail)
	expect(t, e.chunkCmd(tok, "init", map[string]any{"filename": "x", "size": e.cfg.MaxChunkedUploadBytes + 1}),
		http.StatusRequestEntityTooLarge, CodeChunkTooLarge)
	expect(t, e.do(http.MethodGet, "/chunk?cmd=list", nil, nil), http.StatusMethodNotAllowed, CodeChunkFail)

	// Bad put headers and offsets.
	r = e.do(http.MethodPost, "/chunk?cmd=put&id="+id+"&offset=0", content[:testChunk], map[string]string{"Authorization": "Bearer " + tok})
	expect(t, r, http.StatusBadRequest, CodeChunkFail)
	expect(t, e.chunkPut(tok, id, -1, content[:testChunk], ""), http.StatusBadRequest, CodeChunkFail)
	r = e.chunkPut(tok, id, testChunk, content[testChunk:2*testChunk], "") // a gap
	expect(t, r, http.StatusConflict, CodeChunkOffset)
	require.EqualValues(t, 0, r.json["offset"])
	// A chunk whose bytes do not match its hash.
	bad := bytes.Clone(content[:testChunk])
	bad[100] ^= 1
	expect(t, e.chunkPut(tok, id, 0, bad, sha(content[:testChunk])), http.StatusBadRequest, CodeChunkHash)
	// Over the chunk size; shorter than a full chunk while more follows.
	expect(t, e.chunkPut(tok, id, 0, content[:testChunk+1], ""), http.StatusRequestEntityTooLarge, CodeChunkTooLarge)
	expect(t, e.chunkPut(tok, id, 0, content[:100], ""), http.StatusBadRequest, CodeChunkFail)
	// Another user's upload, an unknown one.
	expect(t, e.chunkPut(other, id, 0, content[:testChunk], ""), http.StatusNotFound, CodeChunkNoUpload)
	expect(t, e.chunkCmd(other, "status", map[string]any{"id": id}), http.StatusNotFound, CodeChunkNoUpload)
	expect(t, e.chunkCmd(other, "abort", map[string]any{"id": id}), http.StatusNotFound, CodeChunkNoUpload)
	expect(t, e.chunkCmd(tok, "status", map[string]any{"id": "00112233445566778899aabbccddeeff"}), http.StatusNotFound, CodeChunkNoUpload)
	expect(t, e.chunkCmd(tok, "status", map[string]any{"id": "'; DROP TABLE x"}), http.StatusNotFound, CodeChunkNoUpload)
	// Nothing of that was stored.
	expect(t, e.chunkCmd(tok, "status", map[string]any{"id": id}), http.StatusOK, CodeChunkOK)
	require.Empty(t, e.sessionFileID(id))

	// One chunk in; an overlap answers where it stands; finish is early.
	expect(t, e.chunkPut(tok, id, 0, content[:testChunk], ""), http.StatusOK, CodeChunkOK)
	r = e.chunkPut(tok, id, 0, content[testChunk:2*testChunk], "")
	expect(t, r, http.StatusConflict, CodeChunkOffset)
	require.EqualValues(t, testChunk, r.json["offset"])
	r = e.chunkCmd(tok, "finish", map[string]any{"id": id})
	expect(t, r, http.StatusConflict, CodeChunkPartial)
	require.EqualValues(t, testChunk, r.json["offset"])
	fid := e.sessionFileID(id)
	size, err := e.dfsSize(fid)
	require.NoError(t, err)
	require.EqualValues(t, testChunk, size)

	// Another request holds the upload: a put, finish and abort wait their
	// turn (084); status still answers.
	_, err = e.a.st.DB().Exec("UPDATE upload_session SET busy_until = ? WHERE upload_id = ?", time.Now().Add(time.Minute).UnixMilli(), id)
	require.NoError(t, err)
	expect(t, e.chunkPut(tok, id, testChunk, content[testChunk:2*testChunk], ""), http.StatusConflict, CodeChunkBusy)
	expect(t, e.chunkCmd(tok, "finish", map[string]any{"id": id}), http.StatusConflict, CodeChunkBusy)
	expect(t, e.chunkCmd(tok, "abort", map[string]any{"id": id}), http.StatusConflict, CodeChunkBusy)
	r = e.chunkCmd(tok, "status", map[string]any{"id": id})
	expect(t, r, http.StatusOK, CodeChunkOK)
	require.EqualValues(t, testChunk, r.json["offset"])
	_, err = e.a.st.DB().Exec("UPDATE upload_session SET busy_until = 0 WHERE upload_id = ?", id)
	require.NoError(t, err)

	// Abort deletes the appender file and the session.
	expect(t, e.chunkCmd(tok, "abort", map[string]any{"id": id}), http.StatusOK, CodeChunkOK)
	_, err = e.dfsSize(fid)
	require.True(t, isNotFound(err), "appender file still there: %v", err)
	expect(t, e.chunkCmd(tok, "status", map[string]any{"id": id}), http.StatusNotFound, CodeChunkNoUpload)

	// An expired upload is gone for its owner too.
	id = e.chunkInit(tok, "old.bin", len(content))
	_, err = e.a.st.DB().Exec("UPDATE upload_session SET expire_time = ? WHERE user = ?", time.Now().Add(-time.Minute).Unix(), "chunk_ref")
	require.NoError(t, err)
	expect(t, e.chunkPut(tok, id, 0, content[:testChunk], ""), http.StatusNotFound, CodeChunkNoUpload)
	expect(t, e.chunkCmd(tok, "finish", map[string]any{"id": id}), http.StatusNotFound, CodeChunkNoUpload)

	// A claimed md5 that the content does not have: refused at finish, dropped.
	small := randBytes(1000)
	r = e.chunkCmd(tok, "init", map[string]any{"filename": "m.bin", "size": len(small), "md5": sum([]byte("other"))})
	expect(t, r, http.StatusOK, CodeChunkOK)
	id = r.json["id"].(string)
	expect(t, e.chunkPut(tok, id, 0, small, ""), http.StatusOK, CodeChunkOK)
	fid = e.sessionFileID(id)
	expect(t, e.chunkCmd(tok, "finish", map[string]any{"id": id}), http.StatusBadRequest, CodeChunkFail)
	_, err = e.dfsSize(fid)
	require.True(t, isNotFound(err), "refused upload's file still there: %v", err)
	require.Empty(t, e.listNames("chunk_ref", tok))
}

// A put that appended to the DFS and died before recording it leaves the
// appender file longer than the committed offset: the next status or put
// cuts it back, and the finished file is still byte for byte the source.
func TestChunkCrashRepair(t *testing.T) {
	e := chunkEnv(t)
	tok := e.user("chunk_crash")
	content := randBytes(3*testChunk + 99)
	id := e.chunkInit(tok, "c.bin", len(content))
	e.putAll(tok, id, content[:testChunk], 0)
	fid := e.sessionFileID(id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Appended, not recorded; repaired by status.
	require.NoError(t, e.a.dfs.AppendBuffer(ctx, fid, content[testChunk:testChunk+5000]))
	r := e.chunkCmd(tok, "status", map[string]any{"id": id})
	expect(t, r, http.StatusOK, CodeChunkOK)
	require.EqualValues(t, testChunk, r.json["offset"])
	size, err := e.dfsSize(fid)
	require.NoError(t, err)
	require.EqualValues(t, testChunk, size, "status must cut the unrecorded bytes")

	// Appended (other bytes), not recorded, and the lease left behind
	// as a request that died holding it leaves it; repaired by the next
	// put (sent with its md5 instead of its sha256, and repeated: done once).
	require.NoError(t, e.a.dfs.AppendBuffer(ctx, fid, randBytes(testChunk)))
	_, err = e.a.st.DB().Exec("UPDATE upload_session SET busy_until = ? WHERE upload_id = ?", time.Now().Add(-time.Second).UnixMilli(), id)
	require.NoError(t, err)
	next := content[testChunk : 2*testChunk]
	for range 2 {
		r = e.do(http.MethodPost, fmt.Sprintf("/chunk?cmd=put&id=%s&offset=%d", id, testChunk), next,
			map[string]string{"Authorization": "Bearer " + tok, "X-Chunk-MD5": sum(next)})
		expect(t, r, http.StatusOK, CodeChunkOK)
		require.EqualValues(t, 2*testChunk, r.json["offset"])
	}
	bad := bytes.Clone(content[2*testChunk : 3*testChunk])
	bad[0] ^= 1
	r = e.do(http.MethodPost, fmt.Sprintf("/chunk?cmd=put&id=%s&offset=%d", id, 2*testChunk), bad,
		map[string]string{"Authorization": "Bearer " + tok, "X-Chunk-MD5": sum(content[2*testChunk : 3*testChunk])})
	expect(t, r, http.StatusBadRequest, CodeChunkHash)
	e.putAll(tok, id, content, 2*testChunk)
	r = e.chunkCmd(tok, "finish", map[string]any{"id": id})
	expect(t, r, http.StatusOK, CodeUploadOK)
	require.Equal(t, sum(content), r.json["md5"])
	d := e.download("chunk_crash", tok, sum(content), "c.bin")
	require.True(t, bytes.Equal(content, d.body), "downloaded bytes differ")
}

// Content already stored is referenced at finish; the chunked copy goes.
// Sessions idle past chunk_session_ttl are aborted by the collector.
func TestChunkDedupAndExpiry(t *testing.T) {
	e := chunkEnv(t)
	tok := e.user("chunk_dup")
	content := randBytes(testChunk + 1)
	ct, body := multipartBody(t, map[string]string{"user": "chunk_dup", "token": tok}, "first.bin", content, false)
	expect(t, e.do(http.MethodPost, "/upload", body, map[string]string{"Content-Type": ct}), http.StatusOK, CodeUploadOK)
	known := e.fileID(sum(content))

	id := e.chunkInit(tok, "second.bin", len(content))
	e.putAll(tok, id, content, 0)
	r := e.chunkCmd(tok, "finish", map[string]any{"id": id})
	expect(t, r, http.StatusOK, CodeUploadOK)
	require.Equal(t, known, e.fileID(sum(content)), "the known content is referenced")
	require.Len(t, e.listNames("chunk_dup", tok), 2)
	var left int
	require.NoError(t, e.a.st.DB().QueryRow("SELECT COUNT(*) FROM dfs_gc").Scan(&left))
	require.Zero(t, left, "the chunked copy is deleted at once")

	// Expiry: one chunk in, then idle past its time.
	id = e.chunkInit(tok, "idle.bin", 2*testChunk)
	e.putAll(tok, id, content[:testChunk], 0)
	fid := e.sessionFileID(id)
	_, err := e.a.st.DB().Exec("UPDATE upload_session SET expire_time = ?", time.Now().Add(-time.Second).Unix())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := e.a.st.ExpireSessions(ctx, 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = e.a.st.RunGC(ctx, e.a.gcDelete)
	require.NoError(t, err)
	_, err = e.dfsSize(fid)
	require.True(t, isNotFound(err), "expired upload's file still there: %v", err)
	require.Empty(t, e.chunkCmd(tok, "list", nil).json["sessions"])
}

// A stored file that differs from what the puts committed (bytes the
// server never recorded) is caught at finish by the size and CRC32 in the
// regenerated name: the upload is dropped with its file, nothing recorded.
func TestChunkFinishCheck(t *testing.T) {
	e := chunkEnv(t)
	tok := e.user("chunk_check")
	content := randBytes(testChunk + 10)
	id := e.chunkInit(tok, "x.bin", len(content))
	e.putAll(tok, id, content[:testChunk], 0)
	fid := e.sessionFileID(id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.a.dfs.AppendBuffer(ctx, fid, []byte("junk")))
	e.putAll(tok, id, content, testChunk)
	expect(t, e.chunkCmd(tok, "finish", map[string]any{"id": id}), http.StatusConflict, CodeChunkLost)
	expect(t, e.chunkCmd(tok, "status", map[string]any{"id": id}), http.StatusNotFound, CodeChunkNoUpload)
	require.Empty(t, e.listNames("chunk_check", tok))
	var left int
	require.NoError(t, e.a.st.DB().QueryRow("SELECT COUNT(*) FROM dfs_gc").Scan(&left))
	require.Zero(t, left, "the bad file is deleted")
}

// An unfinished chunked upload's DFS file counts as referenced: the
// reconciliation leaves it alone however old it is, and the collector
// never deletes it, whatever queued it.
func TestChunkReconcileKeepsSessions(t *testing.T) {
	e := chunkEnv(t)
	tok := e.user("chunk_rec")
	content := randBytes(2 * testChunk)
	id := e.chunkInit(tok, "long.bin", len(content))
	e.putAll(tok, id, content[:testChunk], 0)
	fid := e.sessionFileID(id)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	later := ReconcileOptions{Grace: DefaultReconcileGrace, Now: time.Now().Add(2 * time.Hour)}
	st, err := e.a.Reconcile(ctx, []string{fid}, later)
	require.NoError(t, err)
	require.Equal(t, 1, st.Referenced, "%+v", st)
	require.Empty(t, gcRows(t, e, fid))
	_, err = e.a.st.QueueGC(ctx, fid, "delete")
	require.NoError(t, err)
	_, err = e.a.st.RunGC(ctx, e.a.gcDelete)
	require.NoError(t, err)
	require.True(t, dfsExists(t, ctx, e, fid), "the collector deleted an unfinished upload's file")

	e.putAll(tok, id, content, testChunk)
	expect(t, e.chunkCmd(tok, "finish", map[string]any{"id": id}), http.StatusOK, CodeUploadOK)
	d := e.download("chunk_rec", tok, sum(content), "long.bin")
	require.True(t, bytes.Equal(content, d.body), "downloaded bytes differ")
}
