package store

import (
	"context"
	"fmt"
	"strings"

	"yunpan/internal/inline"
)

// ImageTypes are the file types the gallery lists: those internal/inline
// shows in place as images, which /image serves.
var ImageTypes = imageTypes()

func imageTypes() []string {
	var out []string
	for _, e := range inline.List() {
		if strings.HasPrefix(e.Type, "image/") {
			out = append(out, e.Ext)
		}
	}
	return out
}

// MaxImagePage bounds one gallery page.
const MaxImagePage = 100

// ListImages returns a page of user's image entries, newest first (by
// id: entries are added in time order), and how many there are. The image test is on the content's type
// (file_info.type), as /image decides. Every condition on which entries
// are images of the user lives in imagesWhere, shared by both queries: live
// files (not in the trash), in any folder.
func (s *Store) ListImages(ctx context.Context, user string, start, count int) ([]FileItem, int64, error) {
	if start < 0 || count <= 0 || count > MaxImagePage {
		return nil, 0, fmt.Errorf("%w: start >= 0 and 1 <= count <= %d", ErrInvalid, MaxImagePage)
	}
	in := strings.TrimSuffix(strings.Repeat("?, ", len(ImageTypes)), ", ")
	imagesWhere := " FROM user_file_list u JOIN file_info f ON f.md5 = u.md5 WHERE u.user = ? AND u.trash_id = 0 AND u.kind = 0 AND LOWER(f.type) IN (" + in + ")"
	args := []any{user}
	for _, t := range ImageTypes {
		args = append(args, t)
	}
	var total int64
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*)"+imagesWhere, args...).Scan(&total); err != nil {
		return nil, 0, wrapDB("list images", err)
	}
	q := "SELECT u.id, u.user, u.md5, u.shared_status, " + fmt.Sprintf(itemCols, "u") + imagesWhere +
		" ORDER BY u.id DESC LIMIT ?, ?"
	items, err := s.items(ctx, q, append(args, start, count)...)
	if err != nil {
		return nil, 0, err
	}
	return items, total, nil
}
