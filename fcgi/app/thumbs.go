package app

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/internal/thumb"
	"yunpan/store"
)

// Thumbnails are made in the background after an upload is recorded: a
// bounded queue and few workers (decoding a large image takes a core and
// up to 200 MB for a while). A full queue drops the job; the thumbs
// command makes what is missing later. The upload's answer never waits.
const (
	thumbQueueLen = 64
	thumbWorkers  = 1
	thumbTimeout  = 2 * time.Minute // one image: download, decode, slaves, record
)

// thumbJob is one content to make thumbnails for; data is its bytes when
// the upload still had them in memory (else they are downloaded).
type thumbJob struct {
	c    store.Content
	data []byte
}

// startThumbs starts the workers (New, for the programs that upload).
func (a *App) startThumbs() {
	a.thumbQ = make(chan thumbJob, thumbQueueLen)
	for range thumbWorkers {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for {
				select {
				case <-a.stop:
					return
				case j := <-a.thumbQ:
					ctx, cancel := context.WithTimeout(context.Background(), thumbTimeout)
					go func() { // end the job early on Close
						select {
						case <-a.stop:
							cancel()
						case <-ctx.Done():
						}
					}()
					a.makeThumbs(ctx, j.c, j.data)
					cancel()
				}
			}
		}()
	}
}

// queueThumbs queues an upload just recorded whose bytes may be an image:
// known bytes (in memory or spooled) that are no image are not queued; a
// streamed upload is looked at by the worker.
func (a *App) queueThumbs(up *upload) {
	if a.thumbQ == nil {
		return
	}
	j := thumbJob{c: store.Content{MD5: up.md5, FileID: up.fileID, Size: up.size, Type: fileExt(up.name)}}
	switch {
	case up.data != nil:
		if _, ok := thumb.Detect(up.data); !ok {
			return
		}
		j.data = up.data
	case up.path != "":
		if !sniffFile(up.path) {
			return
		}
	}
	select {
	case a.thumbQ <- j:
	default:
		a.log.Info().Str("md5", up.md5).Msg("thumbnail queue full: left to the thumbs command")
	}
}

// sniffFile reports whether a local file starts like an image.
func sniffFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, thumb.SniffLen)
	n, _ := f.Read(head)
	_, ok := thumb.Detect(head[:n])
	return ok
}

// thumbOutcome is what makeThumbs did with one content.
type thumbOutcome int

const (
	thumbsMade   thumbOutcome = iota
	thumbsNone                // not an image, or refused: recorded as none
	thumbsGone                // the content was deleted meanwhile
	thumbsFailed              // the DFS or the database failed: try again later
)

// makeThumbs makes and stores the thumbnails of c as slave files of its
// DFS file and records them in file_info.thumbs. data may be nil (the
// file is then downloaded, the first bytes alone when they are no image).
func (a *App) makeThumbs(ctx context.Context, c store.Content, data []byte) thumbOutcome {
	log := a.log.With().Str("md5", c.MD5).Str("file_id", c.FileID).Logger()
	none := func() thumbOutcome {
		if _, err := a.st.SetThumbs(ctx, c.MD5, c.FileID, store.ThumbsNone); err != nil {
			log.Warn().Err(err).Msg("thumbnails: record none")
			return thumbsFailed
		}
		return thumbsNone
	}
	if data == nil {
		if c.Size < thumb.SniffLen {
			return none()
		}
		head, err := a.dfs.DownloadBytes(ctx, c.FileID, 0, thumb.SniffLen)
		if err != nil {
			log.Warn().Err(err).Msg("thumbnails: read head")
			return thumbsFailed
		}
		if _, ok := thumb.Detect(head); !ok {
			return none()
		}
		if c.Size > thumb.DefaultLimits.MaxBytes {
			log.Warn().Int64("size", c.Size).Msg("thumbnails: image refused: file too large")
			return none()
		}
		if data, err = a.dfs.DownloadBytes(ctx, c.FileID, 0, 0); err != nil {
			log.Warn().Err(err).Msg("thumbnails: download")
			return thumbsFailed
		}
	}
	ths, err := thumb.Make(data, thumb.DefaultLimits)
	switch {
	case errors.Is(err, thumb.ErrNotImage):
		return none()
	case err != nil:
		log.Warn().Err(err).Msg("thumbnails: image refused")
		return none()
	}
	var made []string
	var stored []string // slave IDs
	for _, th := range ths {
		id, err := a.uploadThumb(ctx, c.FileID, th)
		if err != nil {
			log.Warn().Err(err).Str("spec", th.Spec.Name).Msg("thumbnails: store slave")
			a.dropThumbs(ctx, stored)
			return thumbsFailed
		}
		stored = append(stored, id)
		made = append(made, th.Spec.Name+"."+th.Ext+"="+strconv.Itoa(len(th.Data)))
	}
	found, err := a.st.SetThumbs(ctx, c.MD5, c.FileID, strings.Join(made, ","))
	switch {
	case err != nil:
		log.Warn().Err(err).Msg("thumbnails: record")
		a.dropThumbs(ctx, stored)
		return thumbsFailed
	case !found:
		a.dropThumbs(ctx, stored)
		return thumbsGone
	}
	log.Debug().Strs("thumbs", made).Msg("thumbnails made")
	return thumbsMade
}

// uploadThumb stores one thumbnail as a slave of masterID. A slave left by
// an earlier run that was cut short is replaced.
func (a *App) uploadThumb(ctx context.Context, masterID string, th thumb.Thumb) (string, error) {
	id, err := a.dfs.UploadSlaveBuffer(ctx, masterID, th.Spec.Prefix(), th.Ext, th.Data)
	if proto.StatusOf(err) == proto.StatusEEXIST {
		old, serr := slaveID(masterID, th.Spec.Prefix(), th.Ext)
		if serr != nil {
			return "", serr
		}
		if derr := a.dfsDelete(ctx, old); derr != nil {
			return "", derr
		}
		id, err = a.dfs.UploadSlaveBuffer(ctx, masterID, th.Spec.Prefix(), th.Ext, th.Data)
	}
	if err != nil {
		return "", dfsErr(err)
	}
	return id, nil
}

// dropThumbs deletes slaves no row records; a failed delete is queued.
func (a *App) dropThumbs(ctx context.Context, ids []string) {
	for _, id := range ids {
		a.discard(ctx, id, 0, "thumbnail-unrecorded")
	}
}

// slaveID is the file ID of masterID's slave with prefix and ext, as the
// storage names it (fileid.SlaveRemote).
func slaveID(masterID, prefix, ext string) (string, error) {
	group, remote, err := fileid.Split(masterID)
	if err != nil {
		return "", err
	}
	s, err := fileid.SlaveRemote(remote, prefix, ext)
	if err != nil {
		return "", err
	}
	return fileid.Join(group, s), nil
}

// thumbRef is one recorded thumbnail (an item of file_info.thumbs).
type thumbRef struct {
	Spec string // "150x150"
	Ext  string // "jpg" | "png"
	Size int64
}

// parseThumbs reads file_info.thumbs; malformed items are skipped.
func parseThumbs(s string) []thumbRef {
	if s == "" || s == store.ThumbsNone {
		return nil
	}
	var out []thumbRef
	for _, it := range strings.Split(s, ",") {
		name, size, ok := strings.Cut(it, "=")
		spec, ext, ok2 := strings.Cut(name, ".")
		n, err := strconv.ParseInt(size, 10, 64)
		if !ok || !ok2 || err != nil || n < 0 {
			continue
		}
		out = append(out, thumbRef{Spec: spec, Ext: ext, Size: n})
	}
	return out
}

// findThumb returns the recorded thumbnail of spec, if any.
func findThumb(thumbs, spec string) (thumbRef, bool) {
	for _, t := range parseThumbs(thumbs) {
		if t.Spec == spec {
			return t, true
		}
	}
	return thumbRef{}, false
}

// deleteThumbs deletes the recorded thumbnails of a master being deleted;
// a failed delete is queued for the collector.
func (a *App) deleteThumbs(ctx context.Context, masterID, thumbs string) {
	for _, t := range parseThumbs(thumbs) {
		spec, ok := thumb.SpecByName(t.Spec)
		if !ok {
			continue
		}
		if id, err := slaveID(masterID, spec.Prefix(), t.Ext); err == nil {
			a.discard(ctx, id, 0, "thumbnail")
		}
	}
}

// thumbCandidates are every slave name a thumbnail of masterID can have:
// the collector, which no longer knows the row, deletes them all (a
// missing slave counts as deleted).
func thumbCandidates(masterID string) []string {
	if _, ok := appFileID(masterID); !ok { // slaves and foreign names have none
		return nil
	}
	var out []string
	for _, s := range thumb.Specs {
		for _, ext := range []string{"jpg", "png"} {
			if id, err := slaveID(masterID, s.Prefix(), ext); err == nil {
				out = append(out, id)
			}
		}
	}
	return out
}

// thumbURL is the /image address of an entry's 150x150 thumbnail, "" when
// it has none. A shared entry's is the public one (the same for everyone,
// cacheable); a private entry's names its owner, whose token it needs.
func thumbURL(f store.FileItem) string {
	if _, ok := findThumb(f.Thumbs, thumb.Specs[0].Name); !ok {
		return ""
	}
	v := url.Values{"md5": {f.MD5}, "filename": {f.FileName}, "size": {thumb.Specs[0].Name}}
	if f.ShareStatus != 1 {
		v.Set("user", f.User)
	}
	return "/image?" + v.Encode()
}
