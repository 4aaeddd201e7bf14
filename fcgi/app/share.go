package app

import (
	"errors"
	"net/http"
	"strconv"

	"yunpan/store"
)

// rankItem is a ranking line: the course's {filename, pv}, plus md5 and
// file_name so that a page can act on the entry.
type rankItem struct {
	Filename string `json:"filename"`
	FileName string `json:"file_name"`
	MD5      string `json:"md5"`
	PV       int64  `json:"pv"`
}

// handleShareFiles is /sharefiles?cmd=count|normal|pvdesc, public like the
// course. The body {start, count} is optional (query parameters or the
// defaults 0 and 10 apply); GET is accepted too.
func (a *App) handleShareFiles(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeListFail, http.MethodPost, http.MethodGet) {
		return
	}
	cmd := r.URL.Query().Get("cmd")
	switch cmd {
	case "count", "normal", "pvdesc":
	default:
		a.fail(w, http.StatusBadRequest, CodeListFail, "unknown cmd (want count, normal or pvdesc)")
		return
	}
	var q req
	if r.Method == http.MethodPost {
		if err := readJSON(w, r, &q, true); err != nil {
			a.failErr(w, r, err, CodeListFail)
			return
		}
	}
	ctx := r.Context()
	if cmd == "count" {
		n, err := a.st.ShareCount(ctx)
		if err != nil {
			a.failErr(w, r, err, CodeListFail)
			return
		}
		// The course answers a bare number (valid JSON too), with nothing
		// after it: the Qt client reads it with QByteArray::toLong.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte(strconv.FormatInt(n, 10)))
		return
	}
	for _, p := range []struct {
		key string
		f   *flexInt
	}{{"start", &q.Start}, {"count", &q.Count}} {
		if v := r.URL.Query().Get(p.key); v != "" && !p.f.set {
			n, err := strconv.Atoi(v)
			if err != nil {
				a.fail(w, http.StatusBadRequest, CodeListFail, p.key+" must be an integer")
				return
			}
			p.f.set, p.f.n = true, n
		}
	}
	start, count := q.page()
	if cmd == "normal" {
		files, err := a.st.ListShared(ctx, start, count)
		if err != nil {
			a.failErr(w, r, err, CodeListFail)
			return
		}
		a.listReply(w, a.items(files))
		return
	}
	rank, err := a.st.Ranking(ctx, start, count)
	if err != nil {
		a.failErr(w, r, err, CodeListFail)
		return
	}
	out := make([]rankItem, len(rank))
	for i, it := range rank {
		out[i] = rankItem{Filename: it.FileName, FileName: it.FileName, MD5: it.MD5, PV: it.PV}
	}
	a.listReply(w, out)
}

// handleDealShareFile is /dealsharefile?cmd=pv|cancel|save {user, token,
// md5, filename}. Unlike the course, a token is required (body, bearer
// header or cookie), cancel is refused (403) for another user's share and
// save only works on a file that is shared.
func (a *App) handleDealShareFile(w http.ResponseWriter, r *http.Request) {
	cmd := r.URL.Query().Get("cmd")
	okCode, failCode := "", ""
	switch cmd {
	case "pv":
		okCode, failCode = CodePVOK, CodePVFail
	case "cancel":
		okCode, failCode = CodeCancelOK, CodeCancelFail
	case "save":
		okCode, failCode = CodeSaveOK, CodeSaveFail
	default:
		a.fail(w, http.StatusBadRequest, CodeCancelFail, "unknown cmd (want pv, cancel or save)")
		return
	}
	user, m, name, ok := a.fileRequest(w, r, failCode, cmd == "save")
	if !ok {
		return
	}
	var err error
	ctx := r.Context()
	extra := map[string]any(nil)
	switch cmd {
	case "pv":
		// Once per user and per client address, per file, per hour: calling
		// pv in a loop does not move the ranking (store.AddSharePVOnce).
		var pv int64
		var counted bool
		pv, counted, err = a.st.AddSharePVOnce(ctx, user, clientAddr(r), m, name)
		extra = map[string]any{"pv": pv, "counted": counted}
	case "cancel":
		err = a.st.CancelShare(ctx, user, m, name)
	case "save":
		var got string
		got, err = a.st.SaveSharedInto(ctx, user, 0, m, name)
		extra = map[string]any{"file_name": got}
		if errors.Is(err, store.ErrExists) {
			a.fail(w, http.StatusConflict, CodeSaveExists, "already in your files")
			return
		}
	}
	if err != nil {
		a.failErr(w, r, err, failCode)
		return
	}
	a.ok(w, okCode, extra)
}
