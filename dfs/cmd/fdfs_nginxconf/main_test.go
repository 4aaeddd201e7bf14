package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeStorageConf(t *testing.T, extra string) (dir, path string) {
	dir = t.TempDir()
	path = filepath.Join(dir, "storage.conf")
	text := "group_name=group7\nbind_addr=127.0.0.9\nbase_path=" + dir + "\nstore_path_count=2\nstore_path0=" + dir +
		"/s0\nstore_path1=" + dir + "/s1\ntracker_server=127.0.0.1:22122\n" + extra
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return dir, path
}

func TestRenderFromStorageConf(t *testing.T) {
	dir, path := writeStorageConf(t, "http.server_port=8081\n#include http.conf\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "http.conf"),
		[]byte("http.anti_steal.check_token=true\nhttp.anti_steal.secret_key=k\nhttp.multi_range.enabled=false\n"), 0o644))
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"-listen", "127.0.0.9:8888", path}, &out, &errb), errb.String())
	s := out.String()
	require.Contains(t, s, "listen 127.0.0.9:8888;")
	require.Contains(t, s, "pid "+dir+"/nginx/nginx.pid;", "the prefix defaults to <base_path>/nginx")
	require.Contains(t, s, "alias "+dir+"/s1/data/$dfs_st_rel;")
	require.Contains(t, s, `location ~ "^/group7/(?<dfs_st_remote>M01/`)
	require.Contains(t, s, "server 127.0.0.9:8081;")
	require.Contains(t, s, "auth_request /__dfs_auth_group7;")
	require.Contains(t, s, "max_ranges 1;")

	// -o writes the file and the directories Nginx needs.
	conf := filepath.Join(t.TempDir(), "n.conf")
	prefix := filepath.Join(t.TempDir(), "run")
	out.Reset()
	require.Equal(t, 0, run([]string{"-listen", "127.0.0.9:8888", "-prefix", prefix, "-o", conf, path}, &out, &errb), errb.String())
	require.Empty(t, out.String())
	b, err := os.ReadFile(conf)
	require.NoError(t, err)
	require.Contains(t, string(b), "error_log "+prefix+"/logs/error.log")
	require.DirExists(t, filepath.Join(prefix, "logs"))

	// The parts for another Nginx.
	for part, want := range map[string]string{"http": "upstream dfs_storage_group7", "locations": "location @dfs_fallback_group7"} {
		out.Reset()
		require.Equal(t, 0, run([]string{"-part", part, "-upstream", "10.0.0.1:9", path}, &out, &errb), errb.String())
		require.Contains(t, out.String(), want)
		require.NotContains(t, out.String(), "listen ")
	}
	out.Reset()
	run([]string{"-part", "http", "-upstream", "10.0.0.1:9", path}, &out, &errb)
	require.Contains(t, out.String(), "server 10.0.0.1:9;")
}

func TestRenderErrors(t *testing.T) {
	_, path := writeStorageConf(t, "http.anti_steal.check_token=true\nhttp.anti_steal.secret_key=k\n")
	var out, errb bytes.Buffer
	require.Equal(t, 1, run([]string{path}, &out, &errb), "tokens need the HTTP endpoint")
	require.Contains(t, errb.String(), "http.server_port")
	errb.Reset()
	require.Equal(t, 2, run(nil, &out, &errb))
	require.True(t, strings.HasPrefix(errb.String(), "Usage: fdfs_nginxconf"))
	errb.Reset()
	require.Equal(t, 1, run([]string{filepath.Join(t.TempDir(), "missing.conf")}, &out, &errb))
	errb.Reset()
	require.Equal(t, 1, run([]string{"-part", "nope", path}, &out, &errb))
	errb.Reset()
	require.Equal(t, 1, run([]string{"-listen", "1.2.3.4:80; include /etc/passwd", path}, &out, &errb))
}
