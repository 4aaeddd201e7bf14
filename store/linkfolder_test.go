package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/store"
)

// Folder links reach the folder and what is live below it, decided at
// every call: never a folder above it or beside it, another user's, a
// trashed subfolder, or a file moved out after the link was made.
func TestFolderLinks(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	for _, u := range []string{"lina", "omar"} {
		require.NoError(t, s.Register(ctx, store.NewUser{Name: u, Nick: u + " nick", Password: sum("pw")}))
	}
	mkdir := func(user string, parent int64, name string) int64 {
		e, err := s.Mkdir(ctx, user, parent, name)
		require.NoError(t, err)
		return e.ID
	}
	add := func(user string, folder int64, name string) int64 {
		_, err := s.AddUploaded(ctx, store.NewFile{User: user, MD5: sum(name), FileName: name, FileID: "group1/M00/00/00/" + name,
			Size: int64(len(name)), Type: "txt", FolderID: folder})
		require.NoError(t, err)
		return count(t, s, "SELECT id FROM user_file_list WHERE user = ? AND folder_id = ? AND file_name = ?", user, folder, name)
	}
	// lina: /top/docs/{a.txt, sub/{b.txt, deep/}, gone/{c.txt}}, /top/other/o.txt, /r.txt
	top := mkdir("lina", 0, "top")
	docs := mkdir("lina", top, "docs")
	sub := mkdir("lina", docs, "sub")
	deep := mkdir("lina", sub, "deep")
	gone := mkdir("lina", docs, "gone")
	other := mkdir("lina", top, "other")
	a, b, c := add("lina", docs, "a.txt"), add("lina", sub, "b.txt"), add("lina", gone, "c.txt")
	o, r := add("lina", other, "o.txt"), add("lina", 0, "r.txt")
	omarDir := mkdir("omar", 0, "mine")
	x := add("omar", omarDir, "x.txt")
	require.NoError(t, s.Trash(ctx, "lina", []store.ItemRef{{Kind: store.KindFolder, ID: gone}}))

	// Created only on one's own live folder, of the right kind.
	for _, nl := range []store.NewLink{
		{User: "omar", Kind: store.LinkKindFolder, ItemID: docs},
		{User: "lina", Kind: store.LinkKindFolder, ItemID: a},
		{User: "lina", Kind: store.LinkKindFile, ItemID: docs},
		{User: "lina", Kind: store.LinkKindFolder, ItemID: gone},
	} {
		_, err := s.CreateLink(ctx, nl)
		require.ErrorIs(t, err, store.ErrNotFound, "%+v", nl)
	}
	made, err := s.CreateLink(ctx, store.NewLink{User: "lina", Kind: store.LinkKindFolder, ItemID: docs, Code: "ab12"})
	require.NoError(t, err)
	require.Equal(t, "docs", made.FileName)
	l, err := s.OpenLink(ctx, made.Token)
	require.NoError(t, err)
	require.Equal(t, store.LinkKindFolder, l.Kind)
	require.Equal(t, "docs", l.FileName)
	require.Equal(t, "lina nick", l.Nick)
	require.Empty(t, l.MD5)
	require.Empty(t, l.FileID)

	names := func(pg store.FolderPage) []string {
		out := []string{}
		for _, e := range pg.Items {
			out = append(out, e.FileName)
		}
		return out
	}
	crumbs := func(pg store.FolderPage) []int64 {
		out := []int64{}
		for _, c := range pg.Path {
			out = append(out, c.ID)
		}
		return out
	}
	pg, err := s.ListLinkFolder(ctx, l, 0, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"sub", "a.txt"}, names(pg), "folders first; the trashed folder is not listed")
	require.Equal(t, []int64{docs}, crumbs(pg), "the path starts at the shared folder")
	pg, err = s.ListLinkFolder(ctx, l, sub, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"deep", "b.txt"}, names(pg))
	require.Equal(t, []int64{docs, sub}, crumbs(pg))
	pg, err = s.ListLinkFolder(ctx, l, sub, 1, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"b.txt"}, names(pg))
	pg, err = s.ListLinkFolder(ctx, l, deep, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{docs, sub, deep}, crumbs(pg))
	require.Empty(t, pg.Items)
	for _, f := range []int64{top, other, gone, omarDir, a, 999999} {
		_, err := s.ListLinkFolder(ctx, l, f, 0, 10)
		require.ErrorIs(t, err, store.ErrNotInLink, "folder %d", f)
	}
	_, err = s.ListLinkFolder(ctx, l, sub, 0, 0)
	require.ErrorIs(t, err, store.ErrInvalid)

	for _, f := range []int64{a, b} {
		fi, err := s.LinkFile(ctx, l, f)
		require.NoError(t, err)
		require.Equal(t, "group1/M00/00/00/"+fi.FileName, fi.FileID)
	}
	for _, f := range []int64{o, r, c, x, sub, docs, 999999} {
		_, err := s.LinkFile(ctx, l, f)
		require.ErrorIs(t, err, store.ErrNotInLink, "entry %d", f)
	}

	// Moved out after the link was made: out of reach; moved in: in reach.
	require.NoError(t, s.Move(ctx, "lina", []store.ItemRef{{Kind: store.KindFile, ID: b}}, other))
	_, err = s.LinkFile(ctx, l, b)
	require.ErrorIs(t, err, store.ErrNotInLink)
	require.NoError(t, s.Move(ctx, "lina", []store.ItemRef{{Kind: store.KindFile, ID: o}}, deep))
	_, err = s.LinkFile(ctx, l, o)
	require.NoError(t, err)
	require.NoError(t, s.Move(ctx, "lina", []store.ItemRef{{Kind: store.KindFolder, ID: sub}}, top))
	_, err = s.ListLinkFolder(ctx, l, sub, 0, 10)
	require.ErrorIs(t, err, store.ErrNotInLink)
	_, err = s.LinkFile(ctx, l, o)
	require.ErrorIs(t, err, store.ErrNotInLink)
	// The shared folder itself moved: the link follows it.
	require.NoError(t, s.Move(ctx, "lina", []store.ItemRef{{Kind: store.KindFolder, ID: docs}}, 0))
	_, err = s.LinkFile(ctx, l, a)
	require.NoError(t, err)

	// A trashed shared folder: the link is gone, and back with a restore.
	require.NoError(t, s.Trash(ctx, "lina", []store.ItemRef{{Kind: store.KindFolder, ID: docs}}))
	_, err = s.OpenLink(ctx, made.Token)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.LinkFile(ctx, l, a)
	require.ErrorIs(t, err, store.ErrNotInLink)
	links, _, err := s.ListLinks(ctx, "lina", 0, 10)
	require.NoError(t, err)
	require.Equal(t, store.LinkGone, links[0].State(time.Now()))
	_, err = s.Restore(ctx, "lina", []store.ItemRef{{Kind: store.KindFolder, ID: docs}})
	require.NoError(t, err)
	links, _, err = s.ListLinks(ctx, "lina", 0, 10)
	require.NoError(t, err)
	require.Equal(t, store.LinkActive, links[0].State(time.Now()))
	require.Equal(t, "docs", links[0].FileName)
	_, err = s.OpenLink(ctx, made.Token)
	require.NoError(t, err)
}
