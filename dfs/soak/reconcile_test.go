//go:build soak

package soak

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"yunpan/dfs/fileid"
)

// reconcileOrphans is the operator's repair after the load: fdfs_list_files
// on every storage, the web files among them piped into reconcile with no
// grace (the load is over) and a collector pass, then a wait until each
// queued file is gone from every replica. Two web-named files stored with
// the client and recorded nowhere are planted first, as a control that must
// be found. It returns how many files were queued, and how many of them
// were planted.
func (s *soak) reconcileOrphans(t *testing.T, bin string) (int, int) {
	t.Helper()
	planted := map[string]bool{}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		id, err := s.cli.UploadBuffer(ctx, randomData(rnd, 1<<10, 64<<10), webExt)
		cancel()
		if err != nil {
			t.Fatalf("plant an orphan: %v", err)
		}
		planted[id] = true
	}
	ids := map[string]bool{}
	for _, g := range sortedGroups(s) {
		for _, p := range s.groups[g] {
			var out, errb bytes.Buffer
			cmd := exec.Command(filepath.Join(bin, "fdfs_list_files"), p.Conf)
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				t.Fatalf("fdfs_list_files %s: %v\n%s", p.Conf, err, errb.String())
			}
			for _, id := range strings.Fields(out.String()) {
				// Only the web path's files: the DFS workers' raw files
				// (dfsExt) belong to no database and must never be passed.
				if strings.HasSuffix(id, "."+webExt) {
					ids[id] = true
				}
			}
		}
	}
	list := make([]string, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	sort.Strings(list)

	var out, errb bytes.Buffer
	cmd := exec.Command(filepath.Join(bin, "reconcile"), "-conf", s.web.Cfg, "-grace", "0", "-gc")
	cmd.Stdin = strings.NewReader(strings.Join(list, "\n") + "\n")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("reconcile: %v\n%s%s", err, out.String(), errb.String())
	}
	var queued []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "queued "); ok {
			queued = append(queued, id)
		} else {
			t.Logf("soak: %s", line)
		}
	}
	for _, id := range queued {
		if planted[id] {
			delete(planted, id)
			continue
		}
		t.Logf("soak: reconciled orphan %s (created %s)", id, s.created(id))
	}
	if len(planted) > 0 {
		t.Fatalf("planted orphans not queued by fdfs_list_files | reconcile: %v\n%s", planted, out.String())
	}

	// The collector deleted them on their source; the deletes reach the
	// other replica by sync.
	deadline := time.Now().Add(*settle)
	for {
		left := 0
		for _, id := range queued {
			g, _, _ := fileid.Split(id)
			for _, p := range s.groups[g] {
				if _, err := directSize(p.Addr(), id); !isENOENT(err) {
					left++
				}
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Logf("soak: %d reconciled file copies still present after %v", left, *settle)
			break
		}
		time.Sleep(time.Second)
	}
	return len(queued), 2
}

func sortedGroups(s *soak) []string {
	gs := make([]string, 0, len(s.groups))
	for g := range s.groups {
		gs = append(gs, g)
	}
	sort.Strings(gs)
	return gs
}
