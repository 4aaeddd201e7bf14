//go:build soak

package soak

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// Direct requests to one storage, bypassing the tracker and the client's
// failover, so each replica answers for itself.

func direct(addr string, cmd, status byte, body []byte, max int64) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if err := proto.WritePacket(c, cmd, status, body); err != nil {
		return nil, err
	}
	return proto.ReadResponse(c, max)
}

// directSize asks storage addr for the size of fileID (QUERY_FILE_INFO).
func directSize(addr, fileID string) (int64, error) {
	group, remote, err := fileid.Split(fileID)
	if err != nil {
		return 0, err
	}
	b, err := direct(addr, proto.CmdQueryFileInfo, client.FileInfoSilent|client.FileInfoNoCRC,
		(&proto.Buf{}).Fixed(group, proto.GroupNameLen).String(remote).B, 3*8+proto.IPv6Size)
	if err != nil {
		return 0, err
	}
	if len(b) < 8 {
		return 0, fmt.Errorf("file info of %d bytes", len(b))
	}
	return proto.I64(b), nil
}

// directDownload downloads fileID from storage addr.
func directDownload(addr, fileID string) ([]byte, error) {
	group, remote, err := fileid.Split(fileID)
	if err != nil {
		return nil, err
	}
	return direct(addr, proto.CmdDownloadFile, 0,
		(&proto.Buf{}).I64(0).I64(0).Fixed(group, proto.GroupNameLen).String(remote).B, 64<<20)
}

func isENOENT(err error) bool { return err != nil && proto.StatusOf(err) == proto.StatusENOENT }

// expected is what a file must look like on every replica.
type expected struct {
	size   int64 // -1: unknown (checked by hash only)
	sha256 string
	md5    string
	web    bool
}

var storedName = regexp.MustCompile(`^[0-9A-F]{2}/[0-9A-F]{2}/[^/]+$`)

// onDisk lists the stored files (as file IDs) under a storage's store path.
func onDisk(group, base string) (map[string]bool, error) {
	out := map[string]bool{}
	root := filepath.Join(base, "data")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.Type().IsRegular() && storedName.MatchString(filepath.ToSlash(rel)) {
			out[group+"/M00/"+filepath.ToSlash(rel)] = true
		}
		return nil
	})
	return out, err
}

// verify ends the soak: retries the unanswered deletes, waits for the
// replicas to converge, then checks every file on every replica and the
// database against the DFS.
func (s *soak) verify(t *testing.T, a webAcct) *report {
	t.Helper()
	rep := &report{}
	ctx := context.Background()

	// Deletes that got no answer: send again until answered; "no such
	// file" now (every storage up) means an earlier attempt did it.
	deadline := time.Now().Add(90 * time.Second)
	for {
		f := s.reg.takePending()
		if f == nil {
			break
		}
		rep.pendingDeletes++
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := s.cli.Delete(cctx, f.id)
		cancel()
		if err == nil || isENOENT(err) {
			s.reg.deleteDone(f, nil)
			continue
		}
		require.True(t, time.Now().Before(deadline), "delete %s still fails after the load: %v", f.id, err)
		s.reg.deleteDone(f, err)
		time.Sleep(time.Second)
	}

	// The database's view.
	db, err := sql.Open("mysql", s.web.DB.DSNFor(s.web.DBName))
	require.NoError(t, err)
	defer db.Close()
	rowsFI := map[string]string{} // file_id → md5
	md5FI := map[string]bool{}
	rows, err := db.QueryContext(ctx, "SELECT file_id, md5 FROM file_info")
	require.NoError(t, err)
	for rows.Next() {
		var id, m string
		require.NoError(t, rows.Scan(&id, &m))
		rowsFI[id] = m
		md5FI[m] = true
	}
	require.NoError(t, rows.Err())
	rows.Close()
	gc := map[string]bool{}
	rows, err = db.QueryContext(ctx, "SELECT file_id FROM dfs_gc")
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		gc[id] = true
	}
	require.NoError(t, rows.Err())
	rows.Close()
	userFiles := map[string]bool{} // md5 + "/" + name
	rows, err = db.QueryContext(ctx, "SELECT md5, file_name FROM user_file_list WHERE user = ?", a.user)
	require.NoError(t, err)
	for rows.Next() {
		var m, n string
		require.NoError(t, rows.Scan(&m, &n))
		userFiles[m+"/"+n] = true
	}
	require.NoError(t, rows.Err())
	rows.Close()
	rep.webRows, rep.gcPending = len(rowsFI), len(gc)

	// What must be on every replica, and what must be on none.
	present := map[string]expected{}
	s.reg.mu.Lock()
	for _, f := range s.reg.live {
		present[f.id] = expected{size: int64(f.size), sha256: hex.EncodeToString(f.sum[:])}
	}
	gone := map[string]bool{}
	for id := range s.reg.deleted {
		gone[id] = true
	}
	pendingDFS := map[string]bool{}
	for id := range s.reg.pending {
		pendingDFS[id] = true
	}
	s.reg.mu.Unlock()
	rep.dfsLive, rep.dfsDeleted = len(present), len(gone)
	for id, m := range rowsFI {
		if gc[id] {
			continue // referenced rows never queue their file; be lenient anyway
		}
		present[id] = expected{size: -1, md5: m, web: true}
	}

	replicas := func(id string) []string {
		g, _, _ := fileid.Split(id)
		var out []string
		for _, p := range s.groups[g] {
			out = append(out, p.Addr())
		}
		return out
	}

	// Converge: poll sizes (cheap) until every replica agrees or the
	// deadline passes; what still disagrees is reported below.
	deadline = time.Now().Add(*settle)
	start, lastLog := time.Now(), time.Now()
	for {
		behind := 0
		for id, e := range present {
			for _, addr := range replicas(id) {
				n, err := directSize(addr, id)
				if err != nil || (e.size >= 0 && n != e.size) {
					behind++
				}
			}
		}
		for id := range gone {
			for _, addr := range replicas(id) {
				if _, err := directSize(addr, id); !isENOENT(err) {
					behind++
				}
			}
		}
		if behind == 0 {
			t.Logf("soak: replicas converged in %v", time.Since(start).Round(time.Second))
			break
		}
		if time.Now().After(deadline) {
			t.Logf("soak: %d replica checks still differ after %v", behind, *settle)
			break
		}
		if time.Since(lastLog) > 15*time.Second {
			lastLog = time.Now()
			t.Logf("soak: settling, %d replica checks behind", behind)
		}
		time.Sleep(time.Second)
	}

	// Content on every replica.
	for id, e := range present {
		missing := 0
		for _, addr := range replicas(id) {
			rep.checked++
			b, err := directDownload(addr, id)
			if err != nil {
				missing++
				rep.problem("lost", "%s on %s: %v (web %v, created %s)", id, addr, err, e.web, s.created(id))
				continue
			}
			var ok bool
			if e.web {
				h := md5.Sum(b)
				ok = hex.EncodeToString(h[:]) == e.md5
			} else {
				h := sha256.Sum256(b)
				ok = hex.EncodeToString(h[:]) == e.sha256
			}
			if !ok {
				rep.differ++
				rep.problem("differs", "%s on %s: %d bytes with another content (web %v)", id, addr, len(b), e.web)
			}
		}
		if missing > 0 {
			rep.lost++
		}
	}
	for id := range gone {
		for _, addr := range replicas(id) {
			if _, err := directSize(addr, id); !isENOENT(err) {
				rep.undead++
				rep.problem("deleted but present", "%s still on %s (%v; created %s, delete acknowledged %s)", id, addr, err,
					s.created(id), s.at(s.reg.deleted[id].deletedAt))
			}
		}
	}

	// The web files against the database.
	s.webReg.mu.Lock()
	rep.webLive = len(s.webReg.live)
	for _, f := range s.webReg.live {
		if !userFiles[f.md5+"/"+f.name] || !md5FI[f.md5] {
			rep.lost++
			rep.problem("lost", "web upload %s (%s) acknowledged but not in the database (list row %v, file_info %v)",
				f.name, f.md5, userFiles[f.md5+"/"+f.name], md5FI[f.md5])
		}
	}
	for _, f := range s.webReg.deleted {
		if userFiles[f.md5+"/"+f.name] {
			rep.undead++
			rep.problem("deleted but present", "web delete of %s acknowledged but the row is still there", f.name)
		}
	}
	s.webReg.mu.Unlock()

	// Orphans: stored web files no row knows of (neither file_info nor the
	// dfs_gc queue), on any replica.
	referenced := map[string]bool{}
	for id := range rowsFI {
		referenced[id] = true
	}
	for g, procs := range s.groups {
		for _, p := range procs {
			files, err := onDisk(g, p.Base)
			require.NoError(t, err)
			for id := range files {
				switch {
				case strings.HasSuffix(id, "."+webExt):
					if !referenced[id] && !gc[id] {
						rep.orphans++
						rep.problem("orphan", "%s on %s: no file_info row (created %s)", id, p.Addr(), s.created(id))
					}
				case strings.HasSuffix(id, "."+dfsExt):
					if _, ok := present[id]; !ok && !gone[id] && !pendingDFS[id] {
						rep.leftovers++
					}
				}
			}
		}
	}
	return rep
}

// created is the create time in a file ID, relative to the load's start.
func (s *soak) created(id string) string {
	_, remote, err := fileid.Split(id)
	if err != nil {
		return "?"
	}
	info, _, err := fileid.Decode(remote)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%s by %s", s.at(time.Unix(info.Timestamp, 0)), info.SourceIP)
}
