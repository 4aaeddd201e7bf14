package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"yunpan/dfs/client"
)

// extraCase is a benchmark case with its own runner (main's benchCase only
// knows plain uploads and downloads). main runs these after cases, the same
// way: name, ops/s, MiB/s.
type extraCase struct {
	name string
	run  func(c *client.Client, d time.Duration) (ops, bytes int64, elapsed time.Duration, err error)
}

// extraCases: the resumable upload of a 256 MiB file, in 8 MiB parts,
// sequential (APPEND) and with 4 connections (TRUNCATE, then MODIFY at
// offsets), to compare with the plain 64 MiB upload above.
var extraCases = []extraCase{
	{"resumable upload 256 MiB", resumableRunner(256<<20, 1)},
	{"resumable upload 256 MiB x4", resumableRunner(256<<20, 4)},
}

// resumableRunner uploads a size-byte local file with UploadResumable (and
// deletes it again) until d has passed, at least once.
func resumableRunner(size int64, parallel int) func(*client.Client, time.Duration) (int64, int64, time.Duration, error) {
	return func(c *client.Client, d time.Duration) (int64, int64, time.Duration, error) {
		dir, err := os.MkdirTemp("", "fdfs-bench-resumable-")
		if err != nil {
			return 0, 0, 0, err
		}
		defer os.RemoveAll(dir)
		src := filepath.Join(dir, "big.bin")
		f, err := os.Create(src)
		if err != nil {
			return 0, 0, 0, err
		}
		_, err = io.CopyN(f, rand.Reader, size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, 0, 0, fmt.Errorf("write %s: %w", src, err)
		}
		ctx := context.Background()
		var ops int64
		var busy time.Duration // uploading only, not the deletes
		for ops == 0 || busy < d {
			opCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			t0 := time.Now()
			id, err := c.UploadResumable(opCtx, src, "bin", client.ResumableOptions{
				Parallel: parallel, StateDir: filepath.Join(dir, "state")})
			busy += time.Since(t0)
			cancel()
			if err != nil {
				return ops, ops * size, busy, err
			}
			ops++
			c.Delete(ctx, id)
		}
		return ops, ops * size, busy, nil
	}
}
