package store

import (
	"context"
	"database/sql"
	"errors"
)

// ThumbsNone is file_info.thumbs for content examined that has no
// thumbnails (not an image, or one refused); "" is content not examined.
const ThumbsNone = "-"

// Content is one file_info row, as the thumbnail maker needs it.
type Content struct {
	ID     int64
	MD5    string
	FileID string
	Size   int64
	Type   string
}

// SetThumbs records the thumbnails of content md5 stored in fileID. It
// reports false when that row is gone (the content was deleted while its
// thumbnails were made: the caller deletes them). The row lock orders it
// with DeleteFile, which reads thumbs under FOR UPDATE: either the delete
// sees the thumbnails, or this finds no row.
func (s *Store) SetThumbs(ctx context.Context, md5, fileID, thumbs string) (bool, error) {
	var found bool
	err := s.tx(ctx, "set thumbs", func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM file_info WHERE md5 = ? AND file_id = ? FOR UPDATE", md5, fileID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			found = false
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		_, err = tx.ExecContext(ctx, "UPDATE file_info SET thumbs = ? WHERE id = ?", thumbs, id)
		return err
	})
	return found, err
}

// Unexamined lists up to limit rows with thumbs ” and an id above after,
// in id order: the thumbs command's resumable walk.
func (s *Store) Unexamined(ctx context.Context, after int64, limit int) ([]Content, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, md5, file_id, size, type FROM file_info WHERE thumbs = '' AND id > ? ORDER BY id LIMIT ?",
		after, limit)
	if err != nil {
		return nil, wrapDB("unexamined", err)
	}
	defer rows.Close()
	var out []Content
	for rows.Next() {
		var c Content
		if err := rows.Scan(&c.ID, &c.MD5, &c.FileID, &c.Size, &c.Type); err != nil {
			return nil, wrapDB("unexamined", err)
		}
		out = append(out, c)
	}
	return out, wrapDB("unexamined", rows.Err())
}
