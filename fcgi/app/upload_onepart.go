package app

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// maxHeaderLine bounds a line of the one-part layout's head.
const maxHeaderLine = 16 << 10

// readLine reads one line of at most max bytes, without its CR LF.
func readLine(br *bufio.Reader, max int) (string, error) {
	var b []byte
	for {
		chunk, err := br.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > max {
			return "", badRequest("header line too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", wrapBody(err, "head")
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
}

// OnePartHead is the head of the course's one-part upload body.
type OnePartHead struct {
	Boundary string
	Attrs    map[string]string // from the Content-Disposition line, keys lower-case
}

// ReadOnePartHead reads the boundary line and the part headers up to the
// blank line.
func ReadOnePartHead(br *bufio.Reader) (OnePartHead, error) {
	var h OnePartHead
	line, err := readLine(br, 1024)
	if err != nil {
		return h, err
	}
	h.Boundary = strings.TrimSpace(line)
	if h.Boundary == "" {
		return h, badRequest("no boundary on the first line")
	}
	for i := 0; ; i++ {
		if i > 16 {
			return h, badRequest("too many part headers")
		}
		line, err := readLine(br, maxHeaderLine)
		if err != nil {
			return h, err
		}
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), "Content-Disposition") {
			h.Attrs = ParseAttrs(v)
		}
	}
	if h.Attrs == nil {
		return h, badRequest("no Content-Disposition line")
	}
	return h, nil
}

// ParseAttrs reads key="value" and key=value pairs separated by spaces or
// ';' (the Qt client uses spaces, browsers ';'). Bare words are skipped.
func ParseAttrs(s string) map[string]string {
	out := map[string]string{}
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ';') {
			i++
		}
		k := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' && s[i] != ';' {
			i++
		}
		key := strings.ToLower(s[k:i])
		if i >= len(s) || s[i] != '=' {
			continue
		}
		i++
		var val string
		if i < len(s) && s[i] == '"' {
			e := strings.IndexByte(s[i+1:], '"')
			if e < 0 {
				val, i = s[i+1:], len(s)
			} else {
				val, i = s[i+1:i+1+e], i+2+e
			}
		} else {
			v := i
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != ';' {
				i++
			}
			val = s[v:i]
		}
		if key != "" {
			if _, dup := out[key]; !dup {
				out[key] = val
			}
		}
	}
	return out
}

// onePartReaders are readOnePart's 64 KiB buffers, reused rather than
// allocated and zeroed for every upload.
var onePartReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

// readOnePart parses the course's layout: boundary line, headers, blank
// line, the bytes, CR LF, the boundary again.
func (a *App) readOnePart(r *http.Request, body io.Reader) (*upload, error) {
	up := &upload{claimedSize: -1}
	br := onePartReaders.Get().(*bufio.Reader)
	br.Reset(body)
	defer func() { br.Reset(nil); onePartReaders.Put(br) }()
	h, err := ReadOnePartHead(br)
	if err != nil {
		return up, err
	}
	up.user, up.token, up.name, up.claimedMD5 = h.Attrs["user"], h.Attrs["token"], h.Attrs["filename"], h.Attrs["md5"]
	if up.name == "" {
		up.name = h.Attrs["file_name"]
	}
	if v, ok := h.Attrs["folder_id"]; ok {
		if err := up.setFolder(v); err != nil {
			return up, err
		}
	}
	if v, ok := h.Attrs["size"]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return up, badRequest("size must be a byte count")
		}
		up.claimedSize = n
	}
	if err := a.checkFile(r, up); err != nil {
		return up, err
	}
	delim := []byte("\r\n" + h.Boundary)
	if release, ok := a.takeStream(up); ok {
		defer release()
		if err := a.streamUpload(r, up, br, "body"); err != nil {
			return up, err
		}
		if err := checkTrailer(br, delim); err != nil {
			a.discard(r.Context(), up.fileID, 0, "upload-bad-trailer")
			up.fileID = ""
			return up, err
		}
		return up, nil
	}
	sp, err := a.newSpool(up.name)
	if err != nil {
		return up, err
	}
	sp.hint(up.claimedSize, r.ContentLength)
	if up.claimedSize >= 0 {
		var n int64
		n, err = io.CopyN(sp, br, up.claimedSize)
		if err == io.EOF {
			err = badRequest("body ends after %d of %d bytes", n, up.claimedSize)
		}
		if err == nil {
			err = checkTrailer(br, delim)
		}
	} else {
		err = CopyUntil(sp, br, delim)
	}
	if derr := sp.done(up); err == nil {
		err = derr
	}
	if err != nil {
		return up, wrapBody(err, "body")
	}
	return up, nil
}

// checkTrailer requires the closing CR LF + boundary right after the data
// (followed by at most "--" and a line end).
func checkTrailer(br *bufio.Reader, delim []byte) error {
	rest, err := io.ReadAll(io.LimitReader(br, int64(len(delim))+8))
	if err != nil {
		return wrapBody(err, "trailer")
	}
	if !bytes.HasPrefix(rest, delim) {
		return badRequest("the data is not followed by the boundary (wrong size?)")
	}
	tail := strings.TrimRight(string(rest[len(delim):]), "\r\n")
	if tail != "" && tail != "--" {
		return badRequest("unexpected bytes after the closing boundary")
	}
	return nil
}

// CopyUntil copies from br to w up to (not including) delim, which must
// occur; what follows it is left unread.
func CopyUntil(w io.Writer, br *bufio.Reader, delim []byte) error {
	if len(delim) == 0 {
		return badRequest("empty boundary")
	}
	buf := make([]byte, 0, 32<<10+len(delim))
	for {
		// Fill: keep any partial delimiter match from the last round.
		chunk := buf[len(buf):cap(buf)]
		n, rerr := br.Read(chunk)
		buf = buf[:len(buf)+n]
		if i := bytes.Index(buf, delim); i >= 0 {
			_, err := w.Write(buf[:i])
			return err
		}
		if rerr == io.EOF {
			return badRequest("the closing boundary is missing")
		}
		if rerr != nil {
			return rerr
		}
		// Everything but a possible delimiter prefix at the end is data.
		safe := len(buf) - (len(delim) - 1)
		if safe > 0 {
			if _, err := w.Write(buf[:safe]); err != nil {
				return err
			}
			buf = buf[:copy(buf, buf[safe:])]
		}
	}
}
