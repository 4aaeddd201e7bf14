package app

import (
	"cmp"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// readMultipart parses a standard multipart body, spooling the file part
// once the token (a field before it, a header or the cookie) is checked.
func (a *App) readMultipart(r *http.Request, body io.Reader, boundary string) (*upload, error) {
	up := &upload{claimedSize: -1}
	mr := multipart.NewReader(body, boundary)
	partName := ""
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return up, wrapBody(err, "multipart")
		}
		if p.FileName() != "" || p.FormName() == "file" {
			if up.md5 != "" {
				return up, badRequest("one file per upload")
			}
			partName = p.FileName()
			// The caller is known before the file is read.
			if err := a.checkToken(r, up); err != nil {
				return up, err
			}
			if streamed, err := a.streamPart(r, up, p, partName); streamed || err != nil {
				if err != nil {
					return up, err
				}
				continue
			}
			sp, err := a.newSpool(cmp.Or(up.name, partName))
			if err != nil {
				return up, err
			}
			sp.hint(up.claimedSize, r.ContentLength)
			_, err = copyPart(sp, p)
			if derr := sp.done(up); err == nil {
				err = derr
			}
			if err != nil {
				return up, wrapBody(err, "file part")
			}
			continue
		}
		v, err := io.ReadAll(io.LimitReader(p, 4097))
		if err != nil {
			return up, wrapBody(err, "form field")
		}
		if len(v) > 4096 {
			return up, badRequest("form field %q too long", p.FormName())
		}
		val := string(v)
		switch p.FormName() {
		case "user", "token":
			// After the check, fields can no longer change who uploads.
			if up.checked {
				continue
			}
			if p.FormName() == "user" {
				up.user = val
			} else {
				up.token = val
			}
		case "md5":
			up.claimedMD5 = val
		case "folder_id":
			if err := up.setFolder(val); err != nil {
				return up, err
			}
		case "filename", "fileName", "file_name":
			up.name = val
		case "size":
			n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
			if err != nil || n < 0 {
				return up, badRequest("size must be a byte count")
			}
			up.claimedSize = n
		}
	}
	if up.md5 == "" {
		return up, badRequest("no file part")
	}
	if up.fileID != "" { // streamed: checked before it was stored
		return up, nil
	}
	if up.name == "" {
		up.name = partName
	}
	return up, a.checkFile(r, up)
}
