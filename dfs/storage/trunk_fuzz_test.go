package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzTrunkBinlog replays arbitrary binlog text: the free blocks stay
// sorted, disjoint and inside their trunk file, allocations never overlap
// what is used, and a compacted binlog gives the same state.
func FuzzTrunkBinlog(f *testing.F) {
	f.Add([]byte("1700000000 A 0 0 1 1 0 65536\n1700000000 D 0 0 1 1 0 1024\n"))
	f.Add([]byte("1 A 0 0 1 1 0 65536\n1 D 0 0 1 1 0 65536\n1 A 0 0 1 1 100 300\n1 A 0 0 1 1 350 10\n1 D 0 0 1 1"))
	f.Add([]byte("1 A 1 2 3 7 0 65536\n1 A 1 2 3 7 0 65536\n1 D 0 0 1 1 0 99999999\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "binlog")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := testTrunkConfig()
		a, err := openTrunkAlloc(path, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer a.close()
		check := func(a *trunkAlloc) {
			indexed := map[int]int{}
			for _, tf := range a.files {
				end := int32(-1)
				for _, x := range tf.blocks() {
					if x.size <= 0 || x.off < end || x.end() > cfg.fileSize {
						t.Fatalf("trunk %d: bad free ranges %v", tf.id, tf.blocks())
					}
					end = x.end()
					if !tf.idx.t.Has(sizedBlock{x.size, blockKey{tf.id, x.off}}) {
						t.Fatalf("trunk %d: free block %v not in the size index", tf.id, x)
					}
					indexed[tf.path]++
				}
			}
			for path, ix := range a.index {
				n := 0
				if ix.t != nil {
					n = ix.t.Len()
				}
				if n != indexed[path] {
					t.Fatalf("path %d: %d blocks indexed, %d free", path, n, indexed[path])
				}
			}
		}
		check(a)
		used := a.used()
		now := time.Unix(1700000000, 0)
		for range 3 {
			si, err := a.alloc(500, 0, now, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range used {
				if u.id == si.id && u.off < si.off+si.size && si.off < u.off+u.size {
					t.Fatalf("allocated %v over used %v", si, u)
				}
			}
			if err := a.confirm(si, true, now); err != nil {
				t.Fatal(err)
			}
		}
		check(a)
		want := a.used()
		if _, err := a.compact(now); err != nil {
			t.Fatal(err)
		}
		b, err := openTrunkAlloc(path, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer b.close()
		got := b.used()
		if len(got) != len(want) {
			t.Fatalf("after compaction %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("after compaction %v, want %v", got, want)
			}
		}
	})
}
