package app

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"yunpan/store"
)

// proofFloor is the least time a proof answer takes: checking a proof
// reads the ranges from the DFS only when the content is known, and the
// answer must not tell by its timing whether it is.
const proofFloor = 250 * time.Millisecond

// handleMD5 is /md5, the instant upload (秒传), which links content
// already stored only for a client that proves it holds the bytes:
//
//   - {user, token, md5, fileName}: the course's request. 005 when the user
//     already has (md5, fileName); 006 when the user holds this content under
//     another name (linked: nothing is revealed); otherwise 007 (upload it).
//   - {…, size}: as above, but 007 comes with a challenge {nonce, ranges,
//     expires_in}, issued whether or not anyone holds the content.
//   - {…, size, nonce, proof}: proof = md5 hex of the nonce (its 32 hex
//     characters) followed by the bytes of every range in order. Right:
//     006 (linked). Wrong, unknown content, a used or expired nonce: 007,
//     alike and after at least proofFloor.
//
// 111 for a bad token; the endpoint's failure code is 009.
func (a *App) handleMD5(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeUploadFail, http.MethodPost) {
		return
	}
	var q req
	if err := readJSON(w, r, &q, false); err != nil {
		a.failErr(w, r, err, CodeUploadFail)
		return
	}
	user, err := a.auth(r, q.User, q.Token)
	if err != nil {
		a.failErr(w, r, err, CodeUploadFail)
		return
	}
	m, name, err := newFileRef(&q)
	if err != nil {
		a.failErr(w, r, err, CodeUploadFail)
		return
	}
	ctx := r.Context()
	own, err := a.st.UserHasMD5(ctx, user, m)
	if err != nil {
		a.failErr(w, r, err, CodeUploadFail)
		return
	}
	switch {
	case own:
		a.link(w, r, user, m, name)
	case q.Nonce != "" || q.Proof != "":
		start := time.Now()
		linked := a.proven(ctx, user, m, &q)
		if wait := proofFloor - time.Since(start); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if linked {
			a.link(w, r, user, m, name)
			return
		}
		a.ok(w, CodeMD5Unknown, map[string]any{"msg": "not linked: upload the file"})
	case q.Size.set:
		if q.Size.n < 0 {
			a.fail(w, http.StatusBadRequest, CodeUploadFail, "size must be a byte count")
			return
		}
		ch, err := a.st.NewChallenge(ctx, user, m, int64(q.Size.n))
		if err != nil {
			a.failErr(w, r, err, CodeUploadFail)
			return
		}
		ranges := make([][2]int64, len(ch.Ranges))
		for i, rg := range ch.Ranges {
			ranges[i] = [2]int64{rg.Off, rg.Len}
		}
		a.ok(w, CodeMD5Unknown, map[string]any{"msg": "prove you hold the content, or upload it",
			"challenge": map[string]any{"nonce": ch.Nonce, "ranges": ranges, "expires_in": int(store.ChallengeTTL / time.Second)}})
	default:
		a.ok(w, CodeMD5Unknown, map[string]any{"msg": "upload the file (an instant upload needs a proof of possession: send size)"})
	}
}

// link adds known content to user's root folder: 006, 005 when (md5,
// name) is there already, 007 when the content went meanwhile, 009 when
// the quota cannot take it.
func (a *App) link(w http.ResponseWriter, r *http.Request, user, m, name string) {
	got, err := a.st.LinkInto(r.Context(), user, 0, m, name)
	switch {
	case err == nil:
		// file_name: the name recorded, a free "stem (n).ext" when the
		// root holds name with other content.
		a.ok(w, CodeMD5OK, map[string]any{"file_name": got})
	case errors.Is(err, store.ErrExists):
		a.ok(w, CodeMD5Exists, map[string]any{"msg": "already in your files"})
	case errors.Is(err, store.ErrNoContent):
		a.ok(w, CodeMD5Unknown, map[string]any{"msg": "not linked: upload the file"})
	default:
		a.failErr(w, r, err, CodeUploadFail)
	}
}

// proven takes the challenge q.Nonce of user and checks q.Proof against
// the stored content's bytes. Every failure is just false.
func (a *App) proven(ctx context.Context, user, m string, q *req) bool {
	ch, err := a.st.TakeChallenge(ctx, user, q.Nonce)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			a.log.Warn().Err(err).Msg("md5 proof: challenge look-up failed")
		}
		return false
	}
	if ch.MD5 != m || !q.Size.set || int64(q.Size.n) != ch.Size {
		return false
	}
	fileID, size, known, err := a.st.ContentByMD5(ctx, m)
	if err != nil || !known || size != ch.Size {
		return false
	}
	want, err := a.proofOf(ctx, fileID, ch)
	if err != nil {
		a.log.Warn().Err(err).Str("file_id", fileID).Msg("md5 proof: reading the ranges failed")
		return false
	}
	got := strings.ToLower(strings.TrimSpace(q.Proof))
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// proofOf is the right answer to ch for the stored file fileID.
func (a *App) proofOf(ctx context.Context, fileID string, ch store.Challenged) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	h := md5.New()
	h.Write([]byte(ch.Nonce))
	for _, rg := range ch.Ranges {
		if rg.Len == 0 {
			continue // length 0 would mean "to the end"
		}
		b, err := a.dfs.DownloadBytes(ctx, fileID, rg.Off, rg.Len)
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
