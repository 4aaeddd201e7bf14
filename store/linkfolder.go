package store

import (
	"context"
	"errors"
	"fmt"
)

// Folder links: a link of kind LinkKindFolder lets its holder browse the
// folder and every live folder below it, and download every live file in
// them; nothing above the folder, nothing trashed, nothing of another
// user. Whether an entry is inside is decided by its ancestors
// (FolderPath) at each call, so an entry moved out of the folder after the
// link was made is out of reach at once, and one moved in is in reach.

// ErrNotInLink is the ErrNotFound of an entry that a folder link does not
// reach: outside its folder, trashed, another user's or none at all, alike.
var ErrNotInLink = fmt.Errorf("%w: no such entry in the shared folder", ErrNotFound)

// linkPath returns the folders from l's folder (first) down to folder, or
// ErrNotInLink when folder is not a live folder inside l's folder.
func (s *Store) linkPath(ctx context.Context, l Link, folder int64) ([]Crumb, error) {
	if l.Kind != LinkKindFolder {
		return nil, fmt.Errorf("%w: not a folder link", ErrInvalid)
	}
	path, err := s.FolderPath(ctx, l.User, folder)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNotInLink
	}
	if err != nil {
		return nil, err
	}
	for i, c := range path {
		if c.ID == l.ItemID {
			return path[i:], nil
		}
	}
	return nil, ErrNotInLink
}

// ListLinkFolder returns a page of folder (0: the link's own folder) of
// the folder link l, by name, folders first; its Path runs from the
// link's folder (included) down to folder. ErrNotInLink when folder is
// out of the link's reach.
func (s *Store) ListLinkFolder(ctx context.Context, l Link, folder int64, start, count int) (FolderPage, error) {
	if folder == 0 {
		folder = l.ItemID
	}
	if err := checkPage(start, count); err != nil {
		return FolderPage{}, err
	}
	path, err := s.linkPath(ctx, l, folder)
	if err != nil {
		return FolderPage{}, err
	}
	pg, err := s.ListFolder(ctx, l.User, folder, SortName, false, start, count)
	if errors.Is(err, ErrNotFound) {
		return FolderPage{}, ErrNotInLink // trashed meanwhile
	}
	if err != nil {
		return FolderPage{}, err
	}
	pg.Path = path
	return pg, nil
}

// LinkFile returns the live file entry id when it lies in the folder
// link l's folder or below it, else ErrNotInLink.
func (s *Store) LinkFile(ctx context.Context, l Link, id int64) (FileItem, error) {
	if l.Kind != LinkKindFolder {
		return FileItem{}, fmt.Errorf("%w: not a folder link", ErrInvalid)
	}
	e, err := s.EntryInfo(ctx, l.User, ItemRef{Kind: KindFile, ID: id})
	if errors.Is(err, ErrNotFound) {
		return FileItem{}, ErrNotInLink
	}
	if err != nil {
		return FileItem{}, err
	}
	if _, err := s.linkPath(ctx, l, e.FolderID); err != nil {
		return FileItem{}, err
	}
	return e.FileItem, nil
}
