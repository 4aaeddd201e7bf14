package conf

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStorageHTTPDefaults(t *testing.T) {
	st, err := storageFrom(t, minStorage)
	require.NoError(t, err)
	require.Equal(t, DefaultStorageHTTP(), st.HTTP)
	require.Equal(t, DefaultStorage().HTTP, st.HTTP)
	require.Zero(t, st.HTTP.ServerPort, "the HTTP endpoint is off unless asked for")
	require.Equal(t, 600*time.Second, st.HTTP.TokenTTL)
	require.Equal(t, "application/octet-stream", st.HTTP.DefaultContentType)
	require.True(t, st.HTTP.MultiRange)
}

func TestStorageHTTPKeys(t *testing.T) {
	st, err := storageFrom(t, minStorage+`http.server_port = 8081
http.bind_addr = 127.0.0.9
http.anti_steal.check_token = true
http.anti_steal.token_ttl = 900
http.anti_steal.secret_key = FastDFS1234567890
http.anti_steal.token_check_fail = /etc/fdfs/anti-steal.jpg
http.default_content_type = text/plain
http.mime_types_filename = /etc/nginx/mime.types
http.multi_range.enabled = false
`)
	require.NoError(t, err)
	require.Equal(t, StorageHTTP{
		ServerPort: 8081, BindAddr: "127.0.0.9", CheckToken: true, TokenTTL: 900 * time.Second,
		SecretKey: "FastDFS1234567890", TokenCheckFail: "/etc/fdfs/anti-steal.jpg",
		DefaultContentType: "text/plain", MimeTypesFilename: "/etc/nginx/mime.types",
	}, st.HTTP)
}

// FastDFS keeps these keys in http.conf, pulled into storage.conf (well,
// mod_fastdfs.conf) with "#include http.conf"; relative file names are
// resolved against the including config's directory.
func TestStorageHTTPInclude(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "http.conf"), []byte(
		"http.anti_steal.check_token=true\nhttp.anti_steal.secret_key=k\nhttp.anti_steal.token_check_fail=anti-steal.jpg\nhttp.mime_types_filename=mime.types\n"), 0o644))
	path := filepath.Join(dir, "storage.conf")
	require.NoError(t, os.WriteFile(path, []byte(minStorage+"http.server_port=8081\n#include http.conf\n"), 0o644))
	st, err := LoadStorage(path)
	require.NoError(t, err)
	require.True(t, st.HTTP.CheckToken)
	require.Equal(t, "k", st.HTTP.SecretKey)
	require.Equal(t, filepath.Join(dir, "anti-steal.jpg"), st.HTTP.TokenCheckFail)
	require.Equal(t, filepath.Join(dir, "mime.types"), st.HTTP.MimeTypesFilename)
}

func TestStorageHTTPErrors(t *testing.T) {
	long := make([]byte, MaxSecretKeyLen+1)
	for i := range long {
		long[i] = 'k'
	}
	for _, tc := range []struct{ text, want string }{
		{"http.server_port=70000\n", "http.server_port"},
		{"http.server_port=-1\n", "http.server_port"},
		{"http.bind_addr=example.com\n", "http.bind_addr"},
		{"http.anti_steal.check_token=true\n", "secret_key: required"},
		{"http.anti_steal.secret_key=" + string(long) + "\n", "at most 128"},
		{"http.default_content_type=text/html\\r\\nX: y\n", "http.default_content_type"},
		{"http.default_content_type=text\n", "http.default_content_type"},
	} {
		_, err := storageFrom(t, minStorage+tc.text)
		require.ErrorContains(t, err, tc.want, tc.text)
	}
	// A non-positive TTL falls back to the default, as FastDFS's other intervals do.
	st, err := storageFrom(t, minStorage+"http.anti_steal.token_ttl=0\n")
	require.NoError(t, err)
	require.Equal(t, DefaultTokenTTL, st.HTTP.TokenTTL)
}
