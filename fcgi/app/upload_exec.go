package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"yunpan/dfs/fileid"
)

// execUpload runs fdfs_upload_file <client.conf> <file> <storage> <path>
// like the course, reading the file ID from its stdout through a pipe, with
// a timeout. The temp file at path ends with pathExt; it must end with ext,
// since the tool takes the extension from the name: when they differ, it
// is renamed for the run.
func (a *App) execUpload(ctx context.Context, path, pathExt, ext string) (string, error) {
	if pathExt != ext {
		np := strings.TrimSuffix(path, dotExt(pathExt)) + dotExt(ext)
		if err := os.Rename(path, np); err != nil {
			return "", fmt.Errorf("upload: %w", err)
		}
		defer os.Rename(np, path) // keep cleanup() pointing at it
		path = np
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ExecTimeout)
	defer cancel()
	// Bound the children running at once (each is a process and a DFS
	// connection); the others wait, within their timeout.
	select {
	case a.execSlots <- struct{}{}:
		defer func() { <-a.execSlots }()
	case <-ctx.Done():
		return "", fmt.Errorf("%w: waiting for an upload slot: %w", errDFS, ctx.Err())
	}
	// Name the storage on the command line (the tool's optional
	// [storage_ip:port] [store_path_index], the C tool's too), as the
	// tracker told us over a kept connection a moment ago (storetarget.go):
	// the tool then opens one connection instead of two, and the tracker
	// accepts none. Without an answer the tool asks itself, as before.
	return a.withTarget(ctx, func(addr string, pathIndex int) (string, error) {
		return a.runUploadTool(ctx, path, addr, pathIndex)
	})
}

// runUploadTool runs the upload tool once for path, against the storage
// at addr ("": the tool asks the tracker).
func (a *App) runUploadTool(ctx context.Context, path, addr string, pathIndex int) (string, error) {
	args := []string{a.cfg.DFSClient, path}
	if addr != "" {
		args = append(args, addr, strconv.Itoa(pathIndex))
	}
	cmd := exec.CommandContext(ctx, a.uploadBin, args...)
	cmd.Env = uploadEnv()
	// Its own process group, killed whole on timeout (a wrapper script's
	// children too).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var stderr capBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("%w: start %s: %w", errDFS, a.uploadBin, err)
	}
	out, _ := io.ReadAll(io.LimitReader(stdout, 1024))
	io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	id := strings.TrimSpace(string(out))
	_, _, idErr := fileid.Split(id)
	if err != nil {
		if idErr == nil { // it stored the file and then failed: drop it
			a.discard(ctx, id, 0, "upload-exec-failed")
		}
		var ee *exec.ExitError
		full := errors.As(err, &ee) && syscall.Errno(ee.ExitCode()) == syscall.ENOSPC // the tools exit with the errno
		err = fmt.Errorf("%w: fdfs_upload_file: %v: %s", errDFS, err, strings.TrimSpace(stderr.String()))
		if full {
			err = fmt.Errorf("%w: %w", err, syscall.ENOSPC)
		}
		return "", err
	}
	if idErr != nil || strings.ContainsAny(id, " \n") {
		return "", fmt.Errorf("%w: fdfs_upload_file printed %q", errDFS, id)
	}
	return id, nil
}

// uploadEnv is the environment of the upload tool: ours, with GOMAXPROCS=1
// unless it is set. One upload has nothing to run in parallel, and a Go
// runtime started with one P starts fewer threads: the tool's CPU per
// 4 KiB upload fell from 2.0 to 1.3 ms (perf stat, 100 runs). A tool
// written in C ignores the variable.
var uploadEnv = sync.OnceValue(func() []string {
	env := os.Environ()
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			return env
		}
	}
	return append(env, "GOMAXPROCS=1")
})

// capBuffer keeps the first 4 KiB written to it.
type capBuffer struct{ bytes.Buffer }

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := 4096 - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
