// Package integration drives real fdfs_trackerd / fdfs_storaged processes on
// loopback addresses with the real CLI tools, as an operator would. Section
// numbers (§) refer to docs/protocol.md.
package integration

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// run executes a tool and returns stdout, stderr and the exit code.
func run(t *testing.T, tool string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(cluster.Bin(t), tool), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return out.String(), errb.String(), code
}

var fileIDRe = regexp.MustCompile(`^group1/M00/[0-9A-F]{2}/[0-9A-F]{2}/[A-Za-z0-9_-]{27}[0-9]{3}\.bin$`)

func TestCoreToolsAgainstRealDaemons(t *testing.T) {
	tr := cluster.StartTracker(t, "127.0.0.2", nil)
	st := cluster.StartStorage(t, "127.0.0.3", "group1", []*cluster.Proc{tr}, nil)
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	conf := cluster.ClientConf(t, []*cluster.Proc{tr}, nil)
	dir := t.TempDir()

	// Upload: exactly one line, the file ID.
	content := make([]byte, 300*1024+7)
	rand.Read(content)
	src := filepath.Join(dir, "src.bin")
	require.NoError(t, os.WriteFile(src, content, 0o644))
	out, errOut, code := run(t, "fdfs_upload_file", conf, src)
	require.Equal(t, 0, code, errOut)
	id := strings.TrimSuffix(out, "\n")
	require.Regexp(t, fileIDRe, id)
	require.Equal(t, id+"\n", out, "one line only")

	// Download whole: byte-identical.
	dst := filepath.Join(dir, "dst.bin")
	out, errOut, code = run(t, "fdfs_download_file", conf, id, dst)
	require.Equal(t, 0, code, out+errOut)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.True(t, bytes.Equal(content, got), "downloaded file differs")

	// Range download: 100 bytes from offset 1000.
	part := filepath.Join(dir, "part.bin")
	_, _, code = run(t, "fdfs_download_file", conf, id, part, "1000", "100")
	require.Equal(t, 0, code)
	got, err = os.ReadFile(part)
	require.NoError(t, err)
	require.Equal(t, content[1000:1100], got)

	// File info: decoded locally from the name (source IP is the storage's).
	out, _, code = run(t, "fdfs_file_info", conf, id)
	require.Equal(t, 0, code)
	require.Contains(t, out, "GET FROM SERVER: false\n\nfile type: normal\nsource storage id: 0\nsource ip address: 127.0.0.3\n")
	require.Contains(t, out, "file size: 307207\n")
	require.True(t, strings.HasSuffix(out, "\n\n"))

	// Monitor: the storage is ACTIVE.
	out, _, code = run(t, "fdfs_monitor", conf)
	require.Equal(t, 0, code)
	require.Contains(t, out, "host = "+st.Addr()[:len(st.IP)]+":")
	require.Regexp(t, `host = 127\.0\.0\.3:\d+  ACTIVE`, out)
	require.Contains(t, out, "total_upload_count = ")

	// Delete, then the same errors FastDFS prints.
	out, errOut, code = run(t, "fdfs_delete_file", conf, id)
	require.Equal(t, 0, code, out+errOut)
	require.Empty(t, out)
	out, _, code = run(t, "fdfs_download_file", conf, id, filepath.Join(dir, "gone.bin"))
	require.Equal(t, 0, code, "fdfs_download_file exits 0 on failure, as FastDFS does")
	require.Equal(t, "download file fail, error no: 2, error info: No such file or directory\n", out)
	out, _, code = run(t, "fdfs_delete_file", conf, id)
	require.Equal(t, 2, code)
	require.Equal(t, "delete file fail, error no: 2, error info: No such file or directory\n", out)

	// Kill the storage: the tracker sees it OFFLINE.
	st.Kill()
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusOffline, 30*time.Second)
	out, _, _ = run(t, "fdfs_monitor", conf, "list", "group1")
	require.Regexp(t, `host = 127\.0\.0\.3:\d+  OFFLINE`, out)

	// And back: restarting it makes it ACTIVE again.
	st.Start(t)
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
}
