package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

func lines(s string) []string {
	out := strings.Fields(s)
	sort.Strings(out)
	return out
}

// TestListFilesRealStorage: on a real storage, 3 uploads (one with
// metadata) and 1 delete list exactly the 2 live file IDs, through the
// built binary and in process; -older-than filters by create time.
func TestListFilesRealStorage(t *testing.T) {
	tr := cluster.StartTracker(t, "127.0.0.1", nil)
	st := cluster.StartStorage(t, "127.0.0.1", "group1", []*cluster.Proc{tr}, nil)
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 60*time.Second)
	cc, err := conf.LoadClient(cluster.ClientConf(t, []*cluster.Proc{tr}, nil))
	require.NoError(t, err)
	c, err := client.New(cc)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var ids []string
	for i := range 3 {
		id, err := c.UploadBuffer(ctx, bytes.Repeat([]byte{byte('a' + i)}, 100+i), "txt")
		require.NoError(t, err)
		ids = append(ids, id)
	}
	require.NoError(t, c.SetMetadata(ctx, ids[0], []proto.Meta{{Name: "w", Value: "1"}}, 'O'))
	require.NoError(t, c.Delete(ctx, ids[1]))
	want := lines(ids[0] + " " + ids[2])

	cmd := exec.Command(filepath.Join(cluster.Bin(t), "fdfs_list_files"), st.Conf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s", stderr.String())
	require.Equal(t, want, lines(stdout.String()), "stderr: %s", stderr.String())
	require.Contains(t, stderr.String(), "2 files listed")

	run := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := listFiles(args, &o, &e)
		return code, o.String(), e.String()
	}
	// Flags before or after the config; 0 lists everything.
	code, out, errText := run("-older-than", "0s", st.Conf)
	require.Equal(t, 0, code, errText)
	require.Equal(t, want, lines(out))
	code, out, errText = run(st.Conf, "-older-than=1h")
	require.Equal(t, 0, code, errText)
	require.Empty(t, out, "nothing is an hour old")

	code, out, _ = run()
	require.Equal(t, 1, code)
	require.Contains(t, out, "Usage: fdfs_list_files")
	code, _, errText = run(filepath.Join(t.TempDir(), "missing.conf"))
	require.NotEqual(t, 0, code)
	require.Contains(t, errText, "load conf file")
}
