package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// TestDaemonStartStop starts the binary on a free port with a minimal
// tracker.conf, talks to it, and stops it through the pid file.
func TestDaemonStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(cluster.Bin(t), "fdfs_trackerd")
	port := cluster.FreePort(t)
	base := filepath.Join(dir, "base")
	require.NoError(t, os.MkdirAll(base, 0o755))
	cfg := filepath.Join(dir, "tracker.conf")
	require.NoError(t, os.WriteFile(cfg, []byte("bind_addr = 127.0.0.1\nport = "+strconv.Itoa(port)+
		"\nbase_path = "+base+"\nreserved_storage_space = 20%\n"), 0o644))

	cmd := exec.Command(bin, cfg, "start")
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})

	var (
		c   net.Conn
		err error
	)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err = net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "tracker did not listen: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	require.NoError(t, proto.WritePacket(c, proto.CmdStorageParameterReq, 0, nil))
	body, err := proto.ReadResponse(c, 1<<20)
	require.NoError(t, err)
	require.Contains(t, string(body), "reserved_storage_space=20.00%\n")
	c.Close()

	out, err := exec.Command(bin, cfg, "stop").CombinedOutput()
	require.NoError(t, err, string(out))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("tracker did not exit")
	}
	_, err = os.Stat(filepath.Join(base, "data", "tracker_registry.json"))
	require.NoError(t, err, "registry saved on exit")
	_, err = os.Stat(filepath.Join(base, "logs", "trackerd.log"))
	require.NoError(t, err)
}
