// Package app holds the cloud disk's HTTP handlers, one per FastCGI
// program (fcgi/<endpoint>/main.go): reg, login (+ logout), upload, md5,
// myfiles, dealfile, sharefiles, dealsharefile and download; image (the
// image host's links and thumbnails, thumbs.go); link (share links); chunk
// (chunked, resumable uploads); files and trash (folders, the trash,
// quotas). They keep the course's URLs, JSON field names and 3-digit
// string codes (see
// docs/api.md), and add HTTP statuses, token checks everywhere a user's
// data is touched, bounded bodies and server-side content hashing.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/fcgi/config"
	"yunpan/store"
)

// Endpoints are the program names, each serving the path "/"+name
// (login also serves /logout).
var Endpoints = []string{"reg", "login", "upload", "md5", "myfiles", "dealfile", "sharefiles", "dealsharefile", "download",
	"image", "link", "chunk", "files", "trash", "dav"}

// MaxExecUploads bounds the fdfs_upload_file children one program runs at
// once (exec mode).
const MaxExecUploads = 16

// MaxStreamedUploads bounds the uploads one program streams to the storage
// at once (inprocess mode): a streamed upload holds a storage connection
// until its body has arrived, so slow clients must not be able to take
// every connection the storages allow. Beyond it, bodies are spooled.
const MaxStreamedUploads = 32

// Options are the parts New does not take from the config.
type Options struct {
	Log   zerolog.Logger
	Store *store.Store   // nil: New opens one from the config (and Close closes it)
	DFS   *client.Client // nil: New builds one from dfs_path.client (and Close closes it)
	// GCInterval > 0 runs the DFS garbage collector (dfs_gc retries) and the
	// expired-token purge at start and then at this interval.
	GCInterval time.Duration
	// Program names the process in /metrics ("" when it serves every endpoint).
	Program string
	// AccessLog writes every request's line whatever log_level says (else
	// at debug level).
	AccessLog bool
	// TokenCacheAge is store.Options.TokenCacheAge for the store New opens:
	// how long an accepted token is trusted without asking Redis again.
	TokenCacheAge time.Duration
	// QuotaCacheAge is store.Options.QuotaCacheAge for the store New opens:
	// how long a user's usage read for the quota pre-check is reused.
	QuotaCacheAge time.Duration
}

// App is the shared state of the handlers. Safe for concurrent use.
type App struct {
	cfg         *config.Config
	log         zerolog.Logger
	st          *store.Store
	dfs         *client.Client
	ownStore    bool
	ownDFS      bool
	tmpDir      string // private spool dir for uploads (0700)
	uploadBin   string
	execSlots   chan struct{}           // bounds concurrent fdfs_upload_file children
	streams     chan struct{}           // bounds concurrent streamed uploads
	chunkSlots  chan struct{}           // bounds the chunk bodies held in memory (chunk.go)
	streamed    atomic.Uint64           // uploads streamed so far (tests)
	spools      atomic.Uint64           // spreads upload spool files over tmpDir/<slot>
	spoolDirs   [spoolSlots]atomic.Bool // tmpDir/<slot> made
	mw          *middleware             // every handler's (middleware.go)
	thumbQ      chan thumbJob           // thumbnails to make (thumbs.go); nil: not made here
	lkey        linkKey                 // signs share-link grants (link.go)
	davLocks    davLockSystems          // WebDAV locks, per user (dav.go)
	storeTarget storeTarget             // where uploads go, as the tracker said a moment ago (storetarget.go)

	stop chan struct{}
	wg   sync.WaitGroup
}

// New builds the handlers' state: opens the store (running migrations),
// builds the DFS client (no connection yet) and creates the private upload
// spool dir.
func New(ctx context.Context, cfg *config.Config, opt Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: opt.Log, st: opt.Store, dfs: opt.DFS, stop: make(chan struct{}),
		execSlots: make(chan struct{}, MaxExecUploads), streams: make(chan struct{}, MaxStreamedUploads),
		chunkSlots: make(chan struct{}, maxChunkPuts),
		mw:         &middleware{log: opt.Log, access: opt.AccessLog, met: NewMetrics(opt.Program)}}
	if a.dfs == nil {
		cc, err := conf.LoadClient(cfg.DFSClient)
		if err != nil {
			return nil, fmt.Errorf("dfs client config: %w", err)
		}
		if a.dfs, err = client.New(cc); err != nil {
			return nil, fmt.Errorf("dfs client: %w", err)
		}
		a.ownDFS = true
	}
	if a.st == nil {
		so := cfg.StoreOptions(opt.Log)
		so.TokenCacheAge = opt.TokenCacheAge
		so.QuotaCacheAge = opt.QuotaCacheAge
		st, err := store.Open(ctx, so)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.st, a.ownStore = st, true
	}
	a.uploadBin = "fdfs_upload_file"
	if cfg.FdfsBinDir != "" {
		a.uploadBin = filepath.Join(cfg.FdfsBinDir, "fdfs_upload_file")
	}
	base := cfg.TempDir
	if base == "" {
		base = os.TempDir()
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		a.Close()
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	cleanStaleSpools(base, a.log)
	dir, err := os.MkdirTemp(base, "yunpan-upload-")
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	a.tmpDir = dir
	if opt.GCInterval > 0 {
		a.wg.Add(1)
		go a.gcLoop(opt.GCInterval)
	}
	if opt.Program == "" || opt.Program == "upload" {
		a.startThumbs()
	}
	return a, nil
}

// cleanStaleSpools removes upload spool dirs left by crashed programs
// (older than a day, so that live ones are never touched).
func cleanStaleSpools(base string, log zerolog.Logger) {
	ents, _ := filepath.Glob(filepath.Join(base, "yunpan-upload-*"))
	for _, d := range ents {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() && time.Since(fi.ModTime()) > 24*time.Hour {
			if err := os.RemoveAll(d); err == nil {
				log.Info().Str("dir", d).Msg("removed stale upload spool dir")
			}
		}
	}
}

// Close stops the background work, removes the spool dir and closes what
// New opened.
func (a *App) Close() error {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	a.wg.Wait()
	if a.tmpDir != "" {
		os.RemoveAll(a.tmpDir)
	}
	if a.ownDFS && a.dfs != nil {
		a.dfs.Close()
	}
	if a.ownStore && a.st != nil {
		return a.st.Close()
	}
	return nil
}

// Store is the app's store (tests).
func (a *App) Store() *store.Store { return a.st }

// Handler returns the handler of one program.
func (a *App) Handler(name string) (http.Handler, error) {
	var h http.HandlerFunc
	switch name {
	case "reg":
		h = a.handleReg
	case "login", "logout":
		h = a.handleLogin
	case "upload":
		h = a.handleUpload
	case "md5":
		h = a.handleMD5
	case "myfiles":
		h = a.handleMyFiles
	case "dealfile":
		h = a.handleDealFile
	case "sharefiles":
		h = a.handleShareFiles
	case "dealsharefile":
		h = a.handleDealShareFile
	case "download":
		h = a.handleDownload
	case "image":
		h = a.handleImage
	case "link":
		h = a.handleLink
	case "chunk":
		h = a.handleChunk
	case "dav", "apppass":
		h = a.handleDAVProgram
	case "files":
		h = a.handleFiles
	case "trash":
		h = a.handleTrash
	default:
		return nil, fmt.Errorf("unknown endpoint %q (want one of %s)", name, strings.Join(Endpoints, ", "))
	}
	return a.mw.wrap(a.statusPolicy(name, h)), nil
}

// Mux serves every endpoint on its course path (tests, benchmarks, and a
// single-process deployment).
func (a *App) Mux() http.Handler {
	mux := http.NewServeMux()
	for _, n := range Endpoints {
		h, _ := a.Handler(n)
		mux.Handle("/"+n, h)
	}
	h, _ := a.Handler("login")
	mux.Handle("/logout", h)
	h, _ = a.Handler("dav")
	mux.Handle(davPrefix+"/", h)
	mux.Handle("/apppass", h)
	return mux
}

// Drain waits up to timeout for the requests running now to end; false
// when some are still running then.
func (a *App) Drain(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { a.mw.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// gcLoop retries the DFS deletes recorded in dfs_gc, deletes the trash
// older than trash_days for good and purges expired tokens, at start and
// then every interval, until Close.
func (a *App) gcLoop(every time.Duration) {
	defer a.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		go func() { // end the pass early on Close
			select {
			case <-a.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		// Idle chunked uploads first: their files are queued for this pass.
		if n, err := a.st.ExpireSessions(ctx, 100); err != nil {
			a.log.Warn().Err(err).Msg("chunked upload expiry failed")
		} else if n > 0 {
			a.log.Info().Int("expired", n).Msg("chunked uploads idle past chunk_session_ttl aborted")
		}
		if n, err := a.st.RunGC(ctx, a.gcDelete); err != nil {
			a.log.Warn().Err(err).Msg("dfs gc pass failed")
		} else if n > 0 {
			a.log.Info().Int("deleted", n).Msg("dfs gc: queued files deleted")
		}
		if gc, err := a.st.PurgeExpired(ctx, 100); err != nil {
			a.log.Warn().Err(err).Msg("trash purge failed")
		} else {
			for _, g := range gc {
				a.discardContent(ctx, g)
			}
		}
		if _, err := a.st.PurgeTokens(ctx); err != nil {
			a.log.Warn().Err(err).Msg("token purge failed")
		}
		cancel()
		t.Reset(every)
	}
}

// dfsDelete deletes a DFS file; a file that is already gone counts as
// deleted.
func (a *App) dfsDelete(ctx context.Context, fileID string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := a.dfs.Delete(ctx, fileID)
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return err
	}
	// "No such file" settles it only when the file's source storage says
	// so: while the source is away the delete goes to a replica that may
	// not have received the file yet, and the source would sync it back
	// later with nothing referencing it (an orphan the soak test found).
	if !a.sourceUp(ctx, fileID) {
		return fmt.Errorf("delete %s: not found on a replica while its source storage is away: %w", fileID, err)
	}
	if err := a.dfs.Delete(ctx, fileID); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

func isNotFound(err error) bool {
	return proto.StatusOf(err) == proto.StatusENOENT || errors.Is(err, syscall.ENOENT)
}

// sourceUp reports whether the tracker routes updates of fileID to the
// storage that created it (it does while that storage is ACTIVE). Names
// carrying a server ID instead of an IP cannot be checked here: true.
func (a *App) sourceUp(ctx context.Context, fileID string) bool {
	_, remote, err := fileid.Split(fileID)
	if err != nil {
		return true
	}
	info, _, err := fileid.Decode(remote)
	if err != nil || info.SourceIP == "" {
		return true
	}
	fr, err := a.dfs.QueryFetch(ctx, fileID, true)
	return err == nil && len(fr.Storages) > 0 && fr.Storages[0].IP == info.SourceIP
}

// discardContent deletes content whose last reference a purge removed:
// its thumbnail slaves first, then the file (queued in dfs_gc as g.GCID,
// so the collector retries what fails).
func (a *App) discardContent(ctx context.Context, g store.GCFile) {
	a.deleteThumbs(ctx, g.FileID, g.Thumbs)
	a.discard(ctx, g.FileID, g.GCID, "delete")
}

// discard deletes a DFS file no row references (a duplicate upload, or one
// whose database transaction failed). gcID > 0 is its dfs_gc row; with 0 a
// row is written only when the delete fails.
func (a *App) discard(ctx context.Context, fileID string, gcID int64, why string) {
	ctx = context.WithoutCancel(ctx)
	err := a.dfsDelete(ctx, fileID)
	switch {
	case err == nil && gcID > 0:
		if err := a.st.GCDone(ctx, gcID); err != nil {
			a.log.Warn().Err(err).Int64("gc_id", gcID).Msg("gc row left; the collector will clear it")
		}
	case err != nil && gcID > 0:
		a.log.Warn().Err(err).Str("file_id", fileID).Msg("dfs delete failed; queued for retry")
		a.st.GCFailed(ctx, gcID, err)
	case err != nil:
		a.log.Warn().Err(err).Str("file_id", fileID).Str("why", why).Msg("dfs delete failed; queueing for retry")
		if _, qerr := a.st.QueueGC(ctx, fileID, why); qerr != nil {
			a.log.Error().Err(qerr).Str("file_id", fileID).Msg("ORPHAN: dfs file could not be deleted nor queued")
		}
	}
}
