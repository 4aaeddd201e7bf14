package app

import (
	"context"

	"yunpan/store"
)

// settleUnknownCommit decides the fate of an upload's DFS file when the
// COMMIT recording it got no answer (MySQL died or the connection broke
// mid-COMMIT: store.ErrCommitUnknown). Deleting the file as for any other
// failure would leave a committed row without its file; keeping it blindly
// would leave an orphan. store.QueueOrphan looks under locks (so it waits
// for a COMMIT still being applied) and queues the file in dfs_gc only when
// no file_info row references it. It reports whether the upload is recorded
// (the caller then answers success: the file is the user's).
func (a *App) settleUnknownCommit(ctx context.Context, fileID string) bool {
	ctx = context.WithoutCancel(ctx)
	state, err := a.st.QueueOrphan(ctx, fileID)
	switch {
	case err != nil:
		// MySQL is still away: the reconciliation (fcgi/reconcile) queues
		// the file later if nothing references it.
		a.log.Warn().Err(err).Str("file_id", fileID).
			Msg("upload commit outcome unknown: DFS file kept for the reconciliation")
		return false
	case state == store.OrphanReferenced:
		a.log.Info().Str("file_id", fileID).Msg("upload commit outcome was unknown: it did commit")
		return true
	case state == store.OrphanQueued:
		// Not recorded: delete it now; the collector clears the dfs_gc row
		// (a file already gone counts as deleted).
		a.discard(ctx, fileID, 0, "upload-rollback")
	}
	return false
}
