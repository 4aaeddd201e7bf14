package app

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"yunpan/dfs/fileid"
	"yunpan/fcgi/config"
	"yunpan/store"
)

// DefaultReconcileGrace is how old a DFS file must be before the
// reconciliation may call it an orphan. An upload records its file in
// file_info right after the storage names it (the name's time is when the
// last byte arrived), so the gap is one database transaction; but an upload
// that is slow to commit (a loaded database, deadlock retries, an exec-mode
// child at its timeout) or a storage clock ahead of ours must never see its
// file queued. An hour is far beyond any of these, and an orphan costs only
// disk space until the next run.
const DefaultReconcileGrace = time.Hour

// ReconcileOptions tune Reconcile.
type ReconcileOptions struct {
	Grace  time.Duration // files created less than Grace ago are left alone
	DryRun bool          // count only; change nothing
	Now    time.Time     // zero: time.Now()
}

// ReconcileStats is what Reconcile found. Every distinct ID lands in
// exactly one of the counters after Seen.
type ReconcileStats struct {
	Seen       int      // distinct IDs given
	Malformed  int      // not a file ID the app creates (bad syntax, slave, metadata, trunk names)
	TooYoung   int      // created less than the grace period ago
	Referenced int      // a file_info row uses it
	InGC       int      // dfs_gc already holds it
	Queued     int      // queued in dfs_gc now (with DryRun: would be)
	QueuedIDs  []string // the IDs counted in Queued
}

// appFileID reports whether id is a name the app's uploads produce (a
// normal or appender file, 44-byte remote name) and returns its create time.
func appFileID(id string) (int64, bool) {
	_, remote, err := fileid.Split(id)
	if err != nil || len(remote) != fileid.NormalRemoteLen {
		return 0, false
	}
	if _, err := fileid.ParseRemote(remote, 256); err != nil {
		return 0, false
	}
	info, _, err := fileid.Decode(remote)
	if err != nil {
		return 0, false
	}
	return info.Timestamp, true
}

// Reconcile finds, among ids (DFS file IDs of groups only the cloud disk
// uses, e.g. from fdfs_list_files), the files no file_info row references,
// not in dfs_gc and created before now − Grace, and queues them in dfs_gc;
// the collector (gcLoop, or GCPass) deletes them. This is what repairs a
// crash between a storage storing a file and the app learning its ID: the
// upload rolled back, the file stayed.
func (a *App) Reconcile(ctx context.Context, ids []string, opt ReconcileOptions) (ReconcileStats, error) {
	var st ReconcileStats
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	cutoff := now.Add(-opt.Grace).Unix()
	seen := map[string]bool{}
	var cand []string
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		st.Seen++
		created, ok := appFileID(id)
		switch {
		case !ok:
			st.Malformed++
		case created > cutoff:
			st.TooYoung++
		default:
			cand = append(cand, id)
		}
	}
	ref, queued, err := a.st.KnownFileIDs(ctx, cand)
	if err != nil {
		return st, err
	}
	for _, id := range cand {
		state := store.OrphanQueued
		switch {
		case ref[id]:
			state = store.OrphanReferenced
		case queued[id]:
			state = store.OrphanInGC
		case !opt.DryRun:
			// Checked again under locks in the transaction that queues.
			if state, err = a.st.QueueOrphan(ctx, id); err != nil {
				return st, err
			}
		}
		switch state {
		case store.OrphanReferenced:
			st.Referenced++
		case store.OrphanInGC:
			st.InGC++
		default:
			st.Queued++
			st.QueuedIDs = append(st.QueuedIDs, id)
			if !opt.DryRun {
				a.log.Info().Str("file_id", id).Msg("reconcile: orphan queued for deletion")
			}
		}
	}
	return st, nil
}

// GCPass runs the collector until no due dfs_gc row is left (rows whose
// delete fails wait for their retry time) and returns how many files it
// deleted.
func (a *App) GCPass(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := a.st.RunGC(ctx, a.gcDelete)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// gcDelete is the collector's delete. A file a file_info row references is
// never deleted, whatever queued it (the last guard against an upload
// that recorded a file after the reconciliation queued it): its row is
// dropped and the file kept.
func (a *App) gcDelete(ctx context.Context, fileID string) error {
	ref, err := a.st.FileIDReferenced(ctx, fileID)
	if err != nil {
		return err
	}
	if ref {
		a.log.Error().Str("file_id", fileID).Msg("dfs gc: queued file is referenced (file_info or an unfinished upload); kept")
		return nil
	}
	// A master's thumbnail slaves go with it, before it: the row stays
	// queued until all are gone. The row that listed them is gone, so
	// every name a thumbnail can have is tried.
	for _, id := range thumbCandidates(fileID) {
		if err := a.dfsDelete(ctx, id); err != nil {
			return fmt.Errorf("thumbnail %s: %w", id, err)
		}
	}
	return a.dfsDelete(ctx, fileID)
}

const reconcileUsage = `usage: reconcile [-conf cfg.json] [-grace 1h] [-dry-run] [-gc] < file-ids
Reads DFS file IDs (one per line, e.g. from fdfs_list_files on each storage
of the groups the cloud disk owns) and queues for deletion those no file_info
row references, not already queued and created more than -grace ago. The
upload and dealfile programs' collector deletes them within a minute; -gc
runs a collector pass here at once. Prints "queued <file id>" per file and a
summary line.
`

// ReconcileMain is the whole main of the reconcile command; it returns the
// exit code (0 done, 1 failure, 2 usage).
func ReconcileMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("conf", defaultConf(), "cfg.json path (env YUNPAN_CFG)")
	grace := fs.Duration("grace", DefaultReconcileGrace, "leave files younger than this alone (in-flight uploads)")
	dryRun := fs.Bool("dry-run", false, "only count and print what would be queued")
	gc := fs.Bool("gc", false, "run a collector pass after queueing")
	fs.Usage = func() {
		fmt.Fprint(stderr, reconcileUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *grace < 0 {
		fs.Usage()
		return 2
	}
	log := zerolog.New(stderr).With().Timestamp().Str("prog", "reconcile").Logger().Level(zerolog.WarnLevel)
	var ids []string
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			ids = append(ids, line)
		}
	}
	if err := sc.Err(); err != nil {
		log.Error().Err(err).Msg("read file ids")
		return 1
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		log.Error().Err(err).Msg("config")
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, cfg, Options{Log: log})
	if err != nil {
		log.Error().Err(err).Msg("start")
		return 1
	}
	defer a.Close()
	st, err := a.Reconcile(ctx, ids, ReconcileOptions{Grace: *grace, DryRun: *dryRun})
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	verb := "queued"
	if *dryRun {
		verb = "would queue"
	}
	for _, id := range st.QueuedIDs {
		fmt.Fprintf(w, "%s %s\n", verb, id)
	}
	fmt.Fprintf(w, "reconcile: seen %d, malformed %d, too young %d (grace %v), referenced %d, already queued %d, %s %d",
		st.Seen, st.Malformed, st.TooYoung, *grace, st.Referenced, st.InGC, verb, st.Queued)
	if err != nil {
		fmt.Fprintln(w)
		log.Error().Err(err).Msg("reconcile stopped")
		return 1
	}
	if *gc && !*dryRun {
		n, err := a.GCPass(ctx)
		fmt.Fprintf(w, ", gc deleted %d\n", n)
		if err != nil {
			log.Error().Err(err).Msg("gc pass")
			return 1
		}
		return 0
	}
	fmt.Fprintln(w)
	return 0
}
