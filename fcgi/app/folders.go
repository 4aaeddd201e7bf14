package app

import (
	"errors"
	"net/http"

	"yunpan/store"
)

// Codes of /files and /trash (docs/api.md §1.12, §1.13).
const (
	CodeFolderListOK    = "030"
	CodeFolderListFail  = "031"
	CodeMkdirOK         = "032"
	CodeMkdirFail       = "033"
	CodeNameTaken       = "034" // mkdir, rename, move: the folder holds an entry of that name
	CodeRenameOK        = "035"
	CodeRenameFail      = "036"
	CodeMoveOK          = "037"
	CodeMoveFail        = "038"
	CodeTrashOK         = "039" // /files?cmd=delete: moved to the trash
	CodeTrashFail       = "040"
	CodeSearchOK        = "041"
	CodeSearchFail      = "042"
	CodeUsageOK         = "043"
	CodeUsageFail       = "044"
	CodeInfoOK          = "045"
	CodeInfoFail        = "046"
	CodeTrashListOK     = "047"
	CodeTrashListFail   = "048"
	CodeRestoreOK       = "049"
	CodeRestoreFail     = "050"
	CodePurgeOK         = "051"
	CodePurgeFail       = "052"
	CodeEmptyTrashOK    = "053"
	CodeEmptyTrashFail  = "054"
	CodeFolderNotFound  = "055" // a folder or entry that is not the caller's live one (404)
	CodeMoveIntoItself  = "056" // a folder cannot move into itself or below itself (400)
	CodeFolderUnknownOp = "057" // unknown cmd (400)
)

// itemRefJSON is an entry named in a request: {"kind":"file"|"folder","id":N}.
type itemRefJSON struct {
	Kind string  `json:"kind"`
	ID   flexInt `json:"id"`
}

// filesReq is the body of /files and /trash.
type filesReq struct {
	User   string        `json:"user"`
	Token  string        `json:"token"`
	Folder flexInt       `json:"folder_id"` // list, mkdir: the folder (0 or absent: the root)
	Dest   flexInt       `json:"dest"`      // move: the target folder (0: the root)
	Name   string        `json:"name"`      // mkdir, rename
	Item   *itemRefJSON  `json:"item"`      // rename, info
	Items  []itemRefJSON `json:"items"`     // move, delete, restore, trash delete
	Query  string        `json:"q"`         // search
	Sort   string        `json:"sort"`      // list: name (default), time, size
	Order  string        `json:"order"`     // list: asc (default), desc
	Start  flexInt       `json:"start"`
	Count  flexInt       `json:"count"`
}

func (q *filesReq) page() (int, int) {
	c := defaultPage
	if q.Count.set {
		c = q.Count.n
	}
	return q.Start.n, c
}

func parseRef(r *itemRefJSON) (store.ItemRef, error) {
	k, ok := store.ParseKind(r.Kind)
	if !ok {
		return store.ItemRef{}, badRequest(`kind must be "file" or "folder"`)
	}
	if r.ID.n <= 0 {
		return store.ItemRef{}, badRequest("id must be a positive integer")
	}
	return store.ItemRef{Kind: k, ID: int64(r.ID.n)}, nil
}

func parseRefs(in []itemRefJSON) ([]store.ItemRef, error) {
	if len(in) == 0 || len(in) > store.MaxItems {
		return nil, badRequest("items: 1 to %d entries", store.MaxItems)
	}
	out := make([]store.ItemRef, len(in))
	for i := range in {
		ref, err := parseRef(&in[i])
		if err != nil {
			return nil, err
		}
		out[i] = ref
	}
	return out, nil
}

// entryItem is an entry in a /files or /trash answer: the course's list
// fields (§1.6) plus id, kind, folder_id and name.
type entryItem struct {
	item
	ID       int64  `json:"id"`
	Kind     string `json:"kind"`
	FolderID int64  `json:"folder_id"`
	Name     string `json:"name"`
}

func (a *App) entryItem(e store.Entry) entryItem {
	it := item{User: e.User, MD5: e.MD5, CreateTime: e.CreateTime, Time: e.CreateTime, FileName: e.FileName, Filename: e.FileName,
		ShareStatus: e.ShareStatus, PV: e.PV, Size: e.Size, Type: e.Type}
	if e.Kind == store.KindFile && e.FileID != "" {
		it.URL = a.DownloadURL(e.FileID)
	}
	return entryItem{item: it, ID: e.ID, Kind: e.Kind.String(), FolderID: e.FolderID, Name: e.FileName}
}

func (a *App) entryItems(in []store.Entry) []entryItem {
	out := make([]entryItem, len(in))
	for i, e := range in {
		out[i] = a.entryItem(e)
	}
	return out
}

// crumbs is a path from the root, the root first as {"id":0,"name":""}.
func crumbs(path []store.Crumb) []map[string]any {
	out := []map[string]any{{"id": 0, "name": ""}}
	for _, c := range path {
		out = append(out, map[string]any{"id": c.ID, "name": c.Name})
	}
	return out
}

// foldersRequest is the common start of /files and /trash: POST, a known
// cmd, a bounded JSON body, the token. On failure it has answered.
func (a *App) foldersRequest(w http.ResponseWriter, r *http.Request, cmds map[string][2]string) (cmd, user string, q *filesReq, ok bool) {
	cmd = r.URL.Query().Get("cmd")
	codes, known := cmds[cmd]
	failCode := CodeFolderUnknownOp
	if known {
		failCode = codes[1]
	}
	if !a.method(w, r, failCode, http.MethodPost) {
		return "", "", nil, false
	}
	if !known {
		a.fail(w, http.StatusBadRequest, failCode, "unknown cmd")
		return "", "", nil, false
	}
	q = &filesReq{}
	if err := readJSON(w, r, q, false); err != nil {
		a.failErr(w, r, err, failCode)
		return "", "", nil, false
	}
	user, err := a.auth(r, q.User, q.Token)
	if err != nil {
		a.failErr(w, r, err, failCode)
		return "", "", nil, false
	}
	return cmd, user, q, true
}

// foldersFail answers a /files or /trash error: a name taken is 034 (409),
// an entry or folder not found 055 (404), a folder into itself 056 (400),
// anything else the command's failure code.
func (a *App) foldersFail(w http.ResponseWriter, r *http.Request, err error, failCode string) {
	switch {
	case errors.Is(err, store.ErrExists):
		a.fail(w, http.StatusConflict, CodeNameTaken, "the folder already holds an entry of that name")
	case errors.Is(err, store.ErrAlreadyShared):
		a.fail(w, http.StatusConflict, CodeNameTaken, "a public file already has that name and content")
	case errors.Is(err, store.ErrNotFound):
		a.fail(w, http.StatusNotFound, CodeFolderNotFound, publicText(err))
	case errors.Is(err, store.ErrIntoItself):
		a.fail(w, http.StatusBadRequest, CodeMoveIntoItself, "a folder cannot move into itself or a folder below it")
	default:
		a.failErr(w, r, err, failCode)
	}
}

var filesCmds = map[string][2]string{
	"list":   {CodeFolderListOK, CodeFolderListFail},
	"mkdir":  {CodeMkdirOK, CodeMkdirFail},
	"rename": {CodeRenameOK, CodeRenameFail},
	"move":   {CodeMoveOK, CodeMoveFail},
	"delete": {CodeTrashOK, CodeTrashFail},
	"search": {CodeSearchOK, CodeSearchFail},
	"usage":  {CodeUsageOK, CodeUsageFail},
	"info":   {CodeInfoOK, CodeInfoFail},
}

// handleFiles is /files?cmd=list|mkdir|rename|move|delete|search|usage|info
// (docs/api.md §1.12).
func (a *App) handleFiles(w http.ResponseWriter, r *http.Request) {
	cmd, user, q, ok := a.foldersRequest(w, r, filesCmds)
	if !ok {
		return
	}
	okCode, failCode := filesCmds[cmd][0], filesCmds[cmd][1]
	ctx := r.Context()
	var out map[string]any
	err := func() error {
		switch cmd {
		case "list":
			sort := map[string]store.Sort{"": store.SortName, "name": store.SortName, "time": store.SortTime, "size": store.SortSize}
			s, ok := sort[q.Sort]
			if !ok {
				return badRequest("sort must be name, time or size")
			}
			if q.Order != "" && q.Order != "asc" && q.Order != "desc" {
				return badRequest("order must be asc or desc")
			}
			start, count := q.page()
			pg, err := a.st.ListFolder(ctx, user, int64(q.Folder.n), s, q.Order == "desc", start, count)
			if err != nil {
				return err
			}
			out = map[string]any{"folder_id": q.Folder.n, "path": crumbs(pg.Path), "folder_count": pg.Folders,
				"more": pg.More, "items": a.entryItems(pg.Items)}
		case "mkdir":
			e, err := a.st.Mkdir(ctx, user, int64(q.Folder.n), canonicalName(q.Name))
			if err != nil {
				return err
			}
			out = map[string]any{"item": a.entryItem(e)}
		case "rename", "info":
			if q.Item == nil {
				return badRequest("item required")
			}
			ref, err := parseRef(q.Item)
			if err != nil {
				return err
			}
			if cmd == "rename" {
				if err := a.st.Rename(ctx, user, ref, canonicalName(q.Name)); err != nil {
					return err
				}
			}
			e, err := a.st.EntryInfo(ctx, user, ref)
			if err != nil {
				return err
			}
			path, err := a.st.FolderPath(ctx, user, e.FolderID)
			if err != nil {
				return err
			}
			out = map[string]any{"item": a.entryItem(e), "path": crumbs(path)}
		case "move":
			refs, err := parseRefs(q.Items)
			if err != nil {
				return err
			}
			if err := a.st.Move(ctx, user, refs, int64(q.Dest.n)); err != nil {
				return err
			}
			out = map[string]any{"moved": len(refs)}
		case "delete":
			refs, err := parseRefs(q.Items)
			if err != nil {
				return err
			}
			if err := a.st.Trash(ctx, user, refs); err != nil {
				return err
			}
			out = map[string]any{"deleted": len(refs)}
		case "search":
			start, count := q.page()
			es, err := a.st.Search(ctx, user, q.Query, start, count)
			if err != nil {
				return err
			}
			out = map[string]any{"items": a.entryItems(es)}
		case "usage":
			u, err := a.st.Usage(ctx, user)
			if err != nil {
				return err
			}
			out = map[string]any{"used": u.Used, "quota": u.Quota, "trash": u.Trash}
		}
		return nil
	}()
	if err != nil {
		a.foldersFail(w, r, err, failCode)
		return
	}
	a.ok(w, okCode, out)
}

var trashCmds = map[string][2]string{
	"list":    {CodeTrashListOK, CodeTrashListFail},
	"restore": {CodeRestoreOK, CodeRestoreFail},
	"delete":  {CodePurgeOK, CodePurgeFail},
	"empty":   {CodeEmptyTrashOK, CodeEmptyTrashFail},
}

// trashItem is a /trash list entry: an entryItem and when it goes.
type trashItem struct {
	entryItem
	DeleteTime string `json:"delete_time"`
	ExpireTime int64  `json:"expire_time"`
	Files      int64  `json:"files"`
	Bytes      int64  `json:"bytes"`
}

// handleTrash is /trash?cmd=list|restore|delete|empty (docs/api.md §1.13).
func (a *App) handleTrash(w http.ResponseWriter, r *http.Request) {
	cmd, user, q, ok := a.foldersRequest(w, r, trashCmds)
	if !ok {
		return
	}
	okCode, failCode := trashCmds[cmd][0], trashCmds[cmd][1]
	ctx := r.Context()
	var out map[string]any
	err := func() error {
		switch cmd {
		case "list":
			start, count := q.page()
			ts, err := a.st.ListTrash(ctx, user, start, count)
			if err != nil {
				return err
			}
			items := make([]trashItem, len(ts))
			for i, t := range ts {
				items[i] = trashItem{entryItem: a.entryItem(t.Entry), DeleteTime: t.DeleteTime, ExpireTime: t.ExpireTime, Files: t.Files, Bytes: t.Bytes}
				items[i].URL = "" // trashed content is not handed out
			}
			out = map[string]any{"items": items}
		case "restore":
			refs, err := parseRefs(q.Items)
			if err != nil {
				return err
			}
			res, err := a.st.Restore(ctx, user, refs)
			if err != nil {
				return err
			}
			items := make([]map[string]any, len(res))
			for i, rs := range res {
				items[i] = map[string]any{"kind": rs.Kind.String(), "id": rs.ID, "folder_id": rs.FolderID, "name": rs.Name}
			}
			out = map[string]any{"restored": items}
		case "delete":
			refs, err := parseRefs(q.Items)
			if err != nil {
				return err
			}
			gc, err := a.st.PurgeTrash(ctx, user, refs)
			if err != nil {
				return err
			}
			a.discardAll(r, gc)
			out = map[string]any{"deleted": len(refs)}
		case "empty":
			gc, err := a.st.EmptyTrash(ctx, user)
			a.discardAll(r, gc)
			if err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		a.foldersFail(w, r, err, failCode)
		return
	}
	a.ok(w, okCode, out)
}

// maxInlineDeletes bounds the DFS deletes a request does itself; the
// collector does the rest (they are queued in dfs_gc already).
const maxInlineDeletes = 32

// discardAll deletes the DFS files whose last reference a purge removed.
func (a *App) discardAll(r *http.Request, gc []store.GCFile) {
	for i, g := range gc {
		if i == maxInlineDeletes {
			break
		}
		a.discardContent(r.Context(), g)
	}
}
