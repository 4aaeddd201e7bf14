package app

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"

	"yunpan/fcgi/config"
)

// streamPart sends a multipart file part straight to the storage, hashing
// it on the way, when takeStream allows and the caller was checked and the
// size field came before the file (as the web client sends them). It reports whether it took the part.
// A part longer or shorter than its size is refused and what was stored is
// deleted.
func (a *App) streamPart(r *http.Request, up *upload, part io.Reader, partName string) (bool, error) {
	if !up.checked {
		return false, nil
	}
	release, ok := a.takeStream(up)
	if !ok {
		return false, nil
	}
	defer release()
	if up.name == "" {
		up.name = partName
	}
	if err := a.checkFile(r, up); err != nil {
		return true, err
	}
	if err := a.streamUpload(r, up, part, "file part"); err != nil {
		return true, err
	}
	var one [1]byte
	if n, rerr := io.ReadFull(part, one[:]); n > 0 || rerr != io.EOF {
		a.discard(r.Context(), up.fileID, 0, "upload-size-mismatch")
		up.fileID = ""
		if n > 0 {
			return true, badRequest("size mismatch: the file part is longer than %d bytes", up.claimedSize)
		}
		return true, wrapBody(rerr, "file part")
	}
	return true, nil
}

// streamMin is the smallest body an inprocess upload streams to the
// storage. Streaming saves the program a copy of the body in memory or in
// a temp file, about a sixth of its CPU for 1 MiB bodies (BenchmarkWeb's
// cpu-ms/op). Smaller bodies are read whole first: their copy is cheap,
// and a stream holds a storage connection while the body arrives.
const streamMin = 64 << 10

// takeStream reports whether an upload whose size is known in advance is
// to be streamed (inprocess mode, at least streamMin bytes, a streaming
// slot free) and takes the slot; release gives it back.
func (a *App) takeStream(up *upload) (release func(), ok bool) {
	if a.cfg.UploadMode != config.UploadInProcess || up.claimedSize < streamMin {
		return nil, false
	}
	select {
	case a.streams <- struct{}{}:
		a.streamed.Add(1)
		return func() { <-a.streams }, true
	default:
		return nil, false
	}
}

// streamUpload sends up.claimedSize bytes of body straight to the storage
// in full-size writes, hashing them on the way, and fills up.fileID, size
// and md5. A body that ends early or breaks is the client's fault (what
// names it in the error); anything else is the DFS's.
func (a *App) streamUpload(r *http.Request, up *upload, body io.Reader, what string) error {
	hs := md5.New()
	in := &countReader{r: body}
	src := io.TeeReader(fullReader{io.LimitReader(in, up.claimedSize)}, hs)
	id, err := a.dfs.Upload(r.Context(), src, up.claimedSize, fileExt(up.name))
	if err != nil {
		if berr := in.short(up.claimedSize); berr != nil {
			return wrapBody(berr, what)
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, io.ErrUnexpectedEOF) || r.Context().Err() != nil {
			return wrapBody(err, what)
		}
		return dfsErr(err)
	}
	up.fileID, up.size, up.md5 = id, up.claimedSize, hex.EncodeToString(hs.Sum(nil))
	return nil
}

// wrapBody maps body read errors: too large stays too large, the rest is
// a bad request.
func wrapBody(err error, what string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, errTooLarge) || errors.Is(err, errBadRequest) || errors.Is(err, errSpool) {
		return err // a spool failure is ours, not the request's (a full disk: respond.go)
	}
	return badRequest("%s: %v", what, err)
}
