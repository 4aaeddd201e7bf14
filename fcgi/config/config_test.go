package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// The course's cfg.json ([S]/[D]): every value a string.
const courseCfg = `{
    "redis": {"ip": "127.0.0.1", "port": "6379"},
    "mysql": {"ip": "127.0.0.1", "port": "3306", "database": "cloud_disk", "user": "root", "password": "123456"},
    "dfs_path": {"client": "/etc/fdfs/client.conf"},
    "web_server": {"ip": "192.168.31.109", "port": "80"},
    "storage_web_server": {"ip": "192.168.31.109", "port": "80"}
}`

func TestParseAppCourseFile(t *testing.T) {
	// Download URLs are signed by default, and the secret is never
	// defaulted: the course's file alone is refused, with the reason.
	_, err := Parse([]byte(courseCfg), "/srv/conf", nil)
	require.ErrorContains(t, err, "anti_steal.secret_key is required")
	a, err := Parse([]byte(courseCfg), "/srv/conf", func(k string) string {
		return map[string]string{"YUNPAN_ANTI_STEAL_SECRET_KEY": "0123456789abcdef-_"}[k]
	})
	require.NoError(t, err)
	require.Equal(t, MySQL{IP: "127.0.0.1", Port: 3306, Database: "cloud_disk", User: "root", Password: "123456"}, a.MySQL)
	require.Equal(t, "127.0.0.1:6379", a.RedisAddr())
	require.Equal(t, "/etc/fdfs/client.conf", a.DFSClient)
	require.Equal(t, "192.168.31.109:80", a.StorageWebServer.Addr())
	// Ours default.
	require.Equal(t, UploadExec, a.UploadMode)
	require.Equal(t, int64(50<<20), a.MaxUploadBytes)
	require.Equal(t, 24*time.Hour, a.TokenTTL)
	require.Equal(t, 10, a.BcryptCost)
	require.Equal(t, AntiSteal{CheckToken: true, SecretKey: "0123456789abcdef-_", TokenTTL: 900 * time.Second}, a.AntiSteal)
}

func TestLoadAppOursAndEnv(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cfg.json")
	require.NoError(t, os.WriteFile(p, []byte(`{
		"mysql": {"ip": "10.0.0.1", "port": 3307, "database": "cd", "user": "u", "socket": "/run/mysqld.sock"},
		"redis": {"ip": "10.0.0.2", "port": 6380, "db": "2", "key_prefix": "t:"},
		"dfs_path": {"client": "client.conf"},
		"upload_mode": "inprocess", "fdfs_bin_dir": "../bin", "max_upload_bytes": "30M",
		"token_ttl": "3600", "bcrypt_cost": 4, "exec_timeout": 5, "temp_dir": "tmp",
		"anti_steal": {"check_token": "true", "secret_key": "k0123456789abcdef", "token_ttl": 60},
		"unknown_key": {"ignored": true}
	}`), 0o600))
	a, err := Load(p)
	require.NoError(t, err)
	require.Equal(t, "/run/mysqld.sock", a.MySQL.Socket)
	require.Equal(t, 3307, a.MySQL.Port)
	require.Equal(t, 2, a.Redis.DB)
	require.Equal(t, "t:", a.Redis.KeyPrefix)
	require.Equal(t, filepath.Join(dir, "client.conf"), a.DFSClient)
	require.Equal(t, filepath.Join(filepath.Dir(dir), "bin"), a.FdfsBinDir)
	require.Equal(t, filepath.Join(dir, "tmp"), a.TempDir)
	require.Equal(t, UploadInProcess, a.UploadMode)
	require.Equal(t, int64(30<<20), a.MaxUploadBytes)
	require.Equal(t, time.Hour, a.TokenTTL)
	require.Equal(t, 5*time.Second, a.ExecTimeout)
	require.Equal(t, AntiSteal{CheckToken: true, SecretKey: "k0123456789abcdef", TokenTTL: 60 * time.Second}, a.AntiSteal)

	env := map[string]string{"YUNPAN_MYSQL_PASSWORD": "s3cret", "YUNPAN_MYSQL_PORT": "3310", "YUNPAN_UPLOAD_MODE": "exec",
		"YUNPAN_ANTI_STEAL_CHECK_TOKEN": "no", "YUNPAN_REDIS_PORT": "7000"}
	for k, v := range env {
		t.Setenv(k, v)
	}
	a, err = Load(p)
	require.NoError(t, err)
	require.Equal(t, "s3cret", a.MySQL.Password)
	require.Equal(t, 3310, a.MySQL.Port)
	require.Equal(t, UploadExec, a.UploadMode)
	require.False(t, a.AntiSteal.CheckToken)
	require.Equal(t, 7000, a.Redis.Port)
	envs := strings.Join(Env(), "\n")
	for k := range env {
		require.Contains(t, envs, k)
	}
}

func TestParseAppErrors(t *testing.T) {
	for _, bad := range []string{
		`{"upload_mode": "ftp"}`,
		`{"mysql": {"port": "x"}}`,
		`{"mysql": {"port": {"a": 1}}}`,
		`{"mysql": {"database": ""}}`,
		`{"redis": {"port": 0}}`,
		`{"max_upload_bytes": "0"}`,
		`{"max_upload_bytes": "5Q"}`,
		`{"token_ttl": -1}`,
		`{"bcrypt_cost": 3}`,
		`{"anti_steal": {"check_token": true}}`,
		`{"anti_steal": {"check_token": "maybe"}}`,
		`{"anti_steal": {"secret_key": "short"}}`,
		`{"anti_steal": {"secret_key": "0123456789abcdef\"; include x"}}`,
		`{"anti_steal": {"secret_key": "0123456789abcdef$a"}}`,
		`{"anti_steal": {"secret_key": "0123456789abcdef", "token_ttl": 0}}`,
		`{}`,
		`not json`,
	} {
		_, err := Parse([]byte(bad), "", nil)
		require.Error(t, err, bad)
	}
	_, err := Load(filepath.Join(t.TempDir(), "none.json"))
	require.Error(t, err)
	// The sample shipped in conf/ parses once it has a secret, and only then.
	sample := filepath.Join("..", "..", "conf", "cfg.json")
	_, err = Load(sample)
	require.ErrorContains(t, err, "anti_steal.secret_key")
	t.Setenv("YUNPAN_ANTI_STEAL_SECRET_KEY", "0123456789abcdef0123")
	_, err = Load(sample)
	require.NoError(t, err)
	// Turned off explicitly, no secret is needed.
	_, err = Parse([]byte(`{"anti_steal": {"check_token": false}}`), "", nil)
	require.NoError(t, err)
}

func FuzzParseApp(f *testing.F) {
	f.Add([]byte(courseCfg))
	f.Add([]byte(`{"mysql": {"port": 1e3}, "max_upload_bytes": "1K"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Parse(data, "/x", nil)
		if err == nil {
			require.NoError(t, a.Validate())
		}
	})
}

func TestSecurityKeys(t *testing.T) {
	secret := func(k string) string {
		return map[string]string{"YUNPAN_ANTI_STEAL_SECRET_KEY": "0123456789abcdef-_"}[k]
	}
	a, err := Parse([]byte(courseCfg), "", secret)
	require.NoError(t, err)
	require.False(t, a.HTTPStatusCodes, "the course's all-200 answers by default")
	require.Equal(t, LoginThrottle{UserFailures: 5, AddrFailures: 20, MaxLock: 15 * time.Minute}, a.LoginThrottle)
	a, err = Parse([]byte(`{"http_status_codes": "yes", "login_throttle": {"user_failures": 3, "addr_failures": "50", "max_lock": 60}}`), "", secret)
	require.NoError(t, err)
	require.True(t, a.HTTPStatusCodes)
	require.Equal(t, LoginThrottle{UserFailures: 3, AddrFailures: 50, MaxLock: time.Minute}, a.LoginThrottle)
	require.Equal(t, 3, a.StoreOptions(zerolog.Nop()).LoginUserFailures)
	a, err = Parse([]byte(`{}`), "", func(k string) string {
		return map[string]string{"YUNPAN_HTTP_STATUS_CODES": "true", "YUNPAN_ANTI_STEAL_SECRET_KEY": "0123456789abcdef-_"}[k]
	})
	require.NoError(t, err)
	require.True(t, a.HTTPStatusCodes)
	_, err = Parse([]byte(`{"login_throttle": {"user_failures": 0}}`), "", secret)
	require.ErrorContains(t, err, "login_throttle")
}

func TestQuotaAndTrashKeys(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"YUNPAN_ANTI_STEAL_SECRET_KEY": "0123456789abcdef-_"}[k]
	}
	a, err := Parse([]byte(courseCfg), "", env)
	require.NoError(t, err)
	require.Equal(t, int64(10<<30), a.QuotaBytes)
	require.Equal(t, 30, a.TrashDays)
	require.Equal(t, 30*24*time.Hour, a.StoreOptions(zerolog.Nop()).TrashTTL)
	a, err = Parse([]byte(`{"quota_bytes": "2G", "trash_days": "7"}`), "", env)
	require.NoError(t, err)
	require.Equal(t, int64(2<<30), a.QuotaBytes)
	require.Equal(t, int64(2<<30), a.StoreOptions(zerolog.Nop()).Quota)
	require.Equal(t, 7, a.TrashDays)
	a, err = Parse([]byte(`{"quota_bytes": 0}`), "", env)
	require.NoError(t, err)
	require.Zero(t, a.QuotaBytes, "0: unlimited")
	_, err = Parse([]byte(`{"quota_bytes": "-1"}`), "", env)
	require.ErrorContains(t, err, "quota_bytes")
	_, err = Parse([]byte(`{"trash_days": 0}`), "", env)
	require.ErrorContains(t, err, "trash_days")
}
