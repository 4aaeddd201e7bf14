package app

import (
	"context"
	"time"

	"yunpan/store"
)

// davTree is the store as the WebDAV file system sees it: a user's
// folders and files as davNodes, changed the way the web client changes
// them (the same names, trash and quota).
type davTree struct{ st *store.Store }

func (a *App) davTree() davTree { return davTree{a.st} }

func davNodeOf(e store.Entry) davNode {
	n := davNode{Folder: e.Kind == store.KindFolder, ID: e.ID, Name: e.FileName, Size: e.Size,
		MD5: e.MD5, FileID: e.FileID, Type: e.Type}
	if t, err := time.ParseInLocation(timeLayout, e.CreateTime, time.Local); err == nil {
		n.ModTime = t
	}
	return n
}

func refOf(n davNode) store.ItemRef {
	if n.Folder {
		return store.ItemRef{Kind: store.KindFolder, ID: n.ID}
	}
	return store.ItemRef{Kind: store.KindFile, ID: n.ID}
}

// lookup resolves a clean slash path ("/" is the root).
func (t davTree) lookup(ctx context.Context, user, p string) (davNode, error) {
	e, err := t.st.EntryByPath(ctx, user, p)
	if err != nil {
		return davNode{}, err
	}
	return davNodeOf(e), nil
}

func (t davTree) children(ctx context.Context, user string, folder int64) ([]davNode, error) {
	es, err := t.st.Children(ctx, user, folder)
	if err != nil {
		return nil, err
	}
	out := make([]davNode, len(es))
	for i, e := range es {
		out[i] = davNodeOf(e)
	}
	return out, nil
}

func (t davTree) mkdir(ctx context.Context, user string, parent int64, name string) error {
	_, err := t.st.Mkdir(ctx, user, parent, name)
	return err
}

func (t davTree) move(ctx context.Context, user string, n davNode, parent int64, name string) error {
	return t.st.MoveTo(ctx, user, refOf(n), parent, name)
}

// remove sends n (a folder with all it holds) to the trash.
func (t davTree) remove(ctx context.Context, user string, n davNode) error {
	return t.st.Trash(ctx, user, []store.ItemRef{refOf(n)})
}

// putFile records stored content as parent/name; a file of that name there
// goes to the trash (store.PutFile).
func (t davTree) putFile(ctx context.Context, user string, parent int64, f store.NewFile) (store.AddResult, error) {
	return t.st.PutFile(ctx, user, parent, f)
}

func (t davTree) linkFile(ctx context.Context, user string, parent int64, md5, name string) error {
	_, err := t.st.PutFile(ctx, user, parent, store.NewFile{User: user, MD5: md5, FileName: name})
	return err
}

// spaceLeft is how many more bytes user may store (-1: no limit).
func (t davTree) spaceLeft(ctx context.Context, user string) (int64, error) {
	u, err := t.st.Usage(ctx, user)
	if err != nil || u.Quota == 0 {
		return -1, err
	}
	return max(u.Quota-u.Used, 0), nil
}
