// Package config reads the cloud disk's cfg.json, shared by every FastCGI
// program, with YUNPAN_* environment overrides.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"yunpan/conf"
)

// Config is the cloud disk's cfg.json (the course's keys plus ours), shared by
// every FastCGI program. Values may be JSON strings (the course writes
// "port": "3306") or numbers/booleans; YUNPAN_* environment variables
// override the file (see Env).
type Config struct {
	MySQL            MySQL
	Redis            Redis
	DFSClient        string   // dfs_path.client: FastDFS client.conf, resolved against the cfg.json directory
	WebServer        Endpoint // web_server: the public API host
	StorageWebServer Endpoint // storage_web_server: host:port put into download URLs
	UploadMode       string   // upload_mode: "exec" (fork fdfs_upload_file, like the course) or "inprocess"
	FdfsBinDir       string   // fdfs_bin_dir: where fdfs_upload_file lives ("" = $PATH)
	MaxUploadBytes   int64    // max_upload_bytes, default 50 MiB (the course's client_max_body_size 50m)
	TokenTTL         time.Duration
	BcryptCost       int           // bcrypt_cost, default 10
	TempDir          string        // temp_dir for upload spools ("" = os.TempDir())
	ExecTimeout      time.Duration // exec_timeout: limit for one fdfs_upload_file run, default 120 s
	LogLevel         string        // log_level: zerolog level name, default "info"
	AntiSteal        AntiSteal
	// HTTPStatusCodes (http_status_codes) sends fitting HTTP statuses (401,
	// 404, 409, 429, 507, …) with refusals. Off by default: the course's
	// clients read the body only with HTTP 200, so every answer of the app
	// is 200 with the outcome in "code", as the course's server did; only
	// 500 and 503 (a bug, a service down) keep their status.
	HTTPStatusCodes bool
	LoginThrottle   LoginThrottle
	// QuotaBytes (quota_bytes, size suffixes allowed, default 10G) is what
	// a user's files, live and trashed, may hold unless the user has a
	// quota of their own; 0: unlimited.
	QuotaBytes int64
	// TrashDays (trash_days, default 30) is how long deleted entries stay
	// in the trash before the collector deletes them for good.
	TrashDays int

	Dir string // directory of the loaded cfg.json ("" when built by hand)
}

// MySQL is the "mysql" object. Socket, when set, is used instead of ip:port.
type MySQL struct {
	IP, Database, User, Password, Socket string
	Port                                 int
}

// Redis is the "redis" object. KeyPrefix namespaces every key we write
// (empty in production, so the ranking keys keep the course's names).
type Redis struct {
	IP, Password, KeyPrefix string
	Port, DB                int
}

// Endpoint is an {"ip","port"} object.
type Endpoint struct {
	IP   string
	Port int
}

// Addr is "ip:port".
func (e Endpoint) Addr() string { return net.JoinHostPort(e.IP, strconv.Itoa(e.Port)) }

// AntiSteal signs the download URLs we hand out: ?e=<expiry>&st=<md5
// signature>, checked by the Nginx in front of the files (nginx/, its
// secure_link). On by default; the secret is never defaulted, so a config
// without one is refused unless check_token is turned off explicitly.
type AntiSteal struct {
	CheckToken bool
	SecretKey  string        // 16..128 of A-Z a-z 0-9 _ . ~ + / = - (it is written into the Nginx config)
	TokenTTL   time.Duration // how long a URL works after it was handed out
}

// UploadOverhead is what an upload body may carry beyond the file itself
// (boundaries, part headers, form fields): Nginx lets max_upload_bytes plus
// this much through to /upload, and the program refuses more.
const UploadOverhead = 64 << 10

// secretRe is what a URL secret may hold (see AntiSteal.SecretKey).
var secretRe = regexp.MustCompile(`^[A-Za-z0-9_.~+/=-]{16,128}$`)

// LoginThrottle is the "login_throttle" object: failures allowed per
// account and per client address before the doubling locks start, and the
// longest lock (seconds).
type LoginThrottle struct {
	UserFailures, AddrFailures int
	MaxLock                    time.Duration
}

// Upload modes.
const (
	UploadExec      = "exec"
	UploadInProcess = "inprocess"
)

// Default returns the defaults Load starts from.
func Default() *Config {
	return &Config{
		MySQL:            MySQL{IP: "127.0.0.1", Port: 3306, Database: "cloud_disk", User: "root"},
		Redis:            Redis{IP: "127.0.0.1", Port: 6379},
		DFSClient:        "/etc/fdfs/client.conf",
		WebServer:        Endpoint{IP: "127.0.0.1", Port: 80},
		StorageWebServer: Endpoint{IP: "127.0.0.1", Port: 8888},
		UploadMode:       UploadExec,
		MaxUploadBytes:   50 << 20,
		TokenTTL:         86400 * time.Second,
		BcryptCost:       10,
		ExecTimeout:      120 * time.Second,
		LogLevel:         "info",
		AntiSteal:        AntiSteal{CheckToken: true, TokenTTL: 900 * time.Second},
		LoginThrottle:    LoginThrottle{UserFailures: 5, AddrFailures: 20, MaxLock: 15 * time.Minute},
		QuotaBytes:       10 << 30,
		TrashDays:        30,
	}
}

// flex accepts a JSON string, number or boolean and keeps its text.
type flex struct {
	set bool
	s   string
}

func (f *flex) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &f.s); err != nil {
			return err
		}
	} else if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		return fmt.Errorf("want a string, number or boolean, got %s", b)
	} else {
		f.s = string(b)
	}
	f.set = true
	return nil
}

type rawEndpoint struct{ IP, Port flex }

type rawApp struct {
	MySQL struct {
		IP       flex `json:"ip"`
		Port     flex `json:"port"`
		Database flex `json:"database"`
		User     flex `json:"user"`
		Password flex `json:"password"`
		Socket   flex `json:"socket"`
	} `json:"mysql"`
	Redis struct {
		IP        flex `json:"ip"`
		Port      flex `json:"port"`
		Password  flex `json:"password"`
		DB        flex `json:"db"`
		KeyPrefix flex `json:"key_prefix"`
	} `json:"redis"`
	DFSPath struct {
		Client flex `json:"client"`
	} `json:"dfs_path"`
	WebServer        rawEndpoint `json:"web_server"`
	StorageWebServer rawEndpoint `json:"storage_web_server"`
	UploadMode       flex        `json:"upload_mode"`
	FdfsBinDir       flex        `json:"fdfs_bin_dir"`
	MaxUploadBytes   flex        `json:"max_upload_bytes"`
	TokenTTL         flex        `json:"token_ttl"`
	BcryptCost       flex        `json:"bcrypt_cost"`
	TempDir          flex        `json:"temp_dir"`
	ExecTimeout      flex        `json:"exec_timeout"`
	LogLevel         flex        `json:"log_level"`
	AntiSteal        struct {
		CheckToken flex `json:"check_token"`
		SecretKey  flex `json:"secret_key"`
		TokenTTL   flex `json:"token_ttl"`
	} `json:"anti_steal"`
	HTTPStatusCodes flex `json:"http_status_codes"`
	LoginThrottle   struct {
		UserFailures flex `json:"user_failures"`
		AddrFailures flex `json:"addr_failures"`
		MaxLock      flex `json:"max_lock"`
	} `json:"login_throttle"`
	QuotaBytes flex `json:"quota_bytes"`
	TrashDays  flex `json:"trash_days"`
}

// appField binds one key to its environment variable and its setter.
type appField struct {
	key, env string
	raw      *flex
	set      func(string) error
}

// Env lists the environment variables Load honours, in the order of
// the keys in cfg.json (for the README and -help).
func Env() []string {
	var r rawApp
	var out []string
	for _, f := range (&Config{}).fields(&r) {
		out = append(out, f.env+" ("+f.key+")")
	}
	return out
}

func (a *Config) fields(r *rawApp) []appField {
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	num := func(p *int) func(string) error {
		return func(v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("not an integer: %q", v)
			}
			*p = n
			return nil
		}
	}
	num64 := func(p *int64) func(string) error {
		return func(v string) error {
			n, err := conf.ParseBytes(strings.TrimSpace(v))
			if err != nil {
				return err
			}
			*p = n
			return nil
		}
	}
	secs := func(p *time.Duration) func(string) error {
		return func(v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return fmt.Errorf("not a number of seconds: %q", v)
			}
			*p = time.Duration(n) * time.Second
			return nil
		}
	}
	boolean := func(p *bool) func(string) error {
		return func(v string) error {
			b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(v)))
			if err != nil {
				switch strings.ToLower(strings.TrimSpace(v)) {
				case "yes", "on":
					b = true
				case "no", "off", "":
					b = false
				default:
					return fmt.Errorf("not a boolean: %q", v)
				}
			}
			*p = b
			return nil
		}
	}
	return []appField{
		{"mysql.ip", "YUNPAN_MYSQL_IP", &r.MySQL.IP, str(&a.MySQL.IP)},
		{"mysql.port", "YUNPAN_MYSQL_PORT", &r.MySQL.Port, num(&a.MySQL.Port)},
		{"mysql.database", "YUNPAN_MYSQL_DATABASE", &r.MySQL.Database, str(&a.MySQL.Database)},
		{"mysql.user", "YUNPAN_MYSQL_USER", &r.MySQL.User, str(&a.MySQL.User)},
		{"mysql.password", "YUNPAN_MYSQL_PASSWORD", &r.MySQL.Password, str(&a.MySQL.Password)},
		{"mysql.socket", "YUNPAN_MYSQL_SOCKET", &r.MySQL.Socket, str(&a.MySQL.Socket)},
		{"redis.ip", "YUNPAN_REDIS_IP", &r.Redis.IP, str(&a.Redis.IP)},
		{"redis.port", "YUNPAN_REDIS_PORT", &r.Redis.Port, num(&a.Redis.Port)},
		{"redis.password", "YUNPAN_REDIS_PASSWORD", &r.Redis.Password, str(&a.Redis.Password)},
		{"redis.db", "YUNPAN_REDIS_DB", &r.Redis.DB, num(&a.Redis.DB)},
		{"redis.key_prefix", "YUNPAN_REDIS_KEY_PREFIX", &r.Redis.KeyPrefix, str(&a.Redis.KeyPrefix)},
		{"dfs_path.client", "YUNPAN_DFS_PATH_CLIENT", &r.DFSPath.Client, str(&a.DFSClient)},
		{"web_server.ip", "YUNPAN_WEB_SERVER_IP", &r.WebServer.IP, str(&a.WebServer.IP)},
		{"web_server.port", "YUNPAN_WEB_SERVER_PORT", &r.WebServer.Port, num(&a.WebServer.Port)},
		{"storage_web_server.ip", "YUNPAN_STORAGE_WEB_SERVER_IP", &r.StorageWebServer.IP, str(&a.StorageWebServer.IP)},
		{"storage_web_server.port", "YUNPAN_STORAGE_WEB_SERVER_PORT", &r.StorageWebServer.Port, num(&a.StorageWebServer.Port)},
		{"upload_mode", "YUNPAN_UPLOAD_MODE", &r.UploadMode, str(&a.UploadMode)},
		{"fdfs_bin_dir", "YUNPAN_FDFS_BIN_DIR", &r.FdfsBinDir, str(&a.FdfsBinDir)},
		{"max_upload_bytes", "YUNPAN_MAX_UPLOAD_BYTES", &r.MaxUploadBytes, num64(&a.MaxUploadBytes)},
		{"token_ttl", "YUNPAN_TOKEN_TTL", &r.TokenTTL, secs(&a.TokenTTL)},
		{"bcrypt_cost", "YUNPAN_BCRYPT_COST", &r.BcryptCost, num(&a.BcryptCost)},
		{"temp_dir", "YUNPAN_TEMP_DIR", &r.TempDir, str(&a.TempDir)},
		{"exec_timeout", "YUNPAN_EXEC_TIMEOUT", &r.ExecTimeout, secs(&a.ExecTimeout)},
		{"log_level", "YUNPAN_LOG_LEVEL", &r.LogLevel, str(&a.LogLevel)},
		{"anti_steal.check_token", "YUNPAN_ANTI_STEAL_CHECK_TOKEN", &r.AntiSteal.CheckToken, boolean(&a.AntiSteal.CheckToken)},
		{"anti_steal.secret_key", "YUNPAN_ANTI_STEAL_SECRET_KEY", &r.AntiSteal.SecretKey, str(&a.AntiSteal.SecretKey)},
		{"anti_steal.token_ttl", "YUNPAN_ANTI_STEAL_TOKEN_TTL", &r.AntiSteal.TokenTTL, secs(&a.AntiSteal.TokenTTL)},
		{"http_status_codes", "YUNPAN_HTTP_STATUS_CODES", &r.HTTPStatusCodes, boolean(&a.HTTPStatusCodes)},
		{"login_throttle.user_failures", "YUNPAN_LOGIN_THROTTLE_USER_FAILURES", &r.LoginThrottle.UserFailures, num(&a.LoginThrottle.UserFailures)},
		{"login_throttle.addr_failures", "YUNPAN_LOGIN_THROTTLE_ADDR_FAILURES", &r.LoginThrottle.AddrFailures, num(&a.LoginThrottle.AddrFailures)},
		{"login_throttle.max_lock", "YUNPAN_LOGIN_THROTTLE_MAX_LOCK", &r.LoginThrottle.MaxLock, secs(&a.LoginThrottle.MaxLock)},
		{"quota_bytes", "YUNPAN_QUOTA_BYTES", &r.QuotaBytes, num64(&a.QuotaBytes)},
		{"trash_days", "YUNPAN_TRASH_DAYS", &r.TrashDays, num(&a.TrashDays)},
	}
}

// Load reads cfg.json at path, applies YUNPAN_* environment overrides
// and validates the result. Relative paths in it (dfs_path.client,
// fdfs_bin_dir, temp_dir) are resolved against the file's directory, so the
// programs do not depend on their working directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("app config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("app config %s: %w", path, err)
	}
	a, err := Parse(data, dir, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("app config %s: %w", path, err)
	}
	return a, nil
}

// Parse parses cfg.json bytes; getenv (nil for none) supplies overrides.
func Parse(data []byte, dir string, getenv func(string) string) (*Config, error) {
	a := Default()
	a.Dir = dir
	var r rawApp
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	for _, f := range a.fields(&r) {
		v, ok := f.raw.s, f.raw.set
		if getenv != nil {
			if e := getenv(f.env); e != "" {
				v, ok = e, true
			}
		}
		if !ok {
			continue
		}
		if err := f.set(v); err != nil {
			return nil, fmt.Errorf("%s: %w", f.key, err)
		}
	}
	for _, p := range []*string{&a.DFSClient, &a.FdfsBinDir, &a.TempDir} {
		if *p != "" && !filepath.IsAbs(*p) && dir != "" {
			*p = filepath.Join(dir, *p)
		}
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// Validate checks the values a program cannot run without.
func (a *Config) Validate() error {
	switch a.UploadMode {
	case UploadExec, UploadInProcess:
	default:
		return fmt.Errorf("upload_mode %q: want %q or %q", a.UploadMode, UploadExec, UploadInProcess)
	}
	if a.MySQL.Socket == "" && (a.MySQL.IP == "" || a.MySQL.Port <= 0 || a.MySQL.Port > 65535) {
		return fmt.Errorf("mysql: need socket or ip and port")
	}
	if a.MySQL.Database == "" {
		return fmt.Errorf("mysql.database is empty")
	}
	if a.Redis.Port <= 0 || a.Redis.Port > 65535 {
		return fmt.Errorf("redis.port %d out of range", a.Redis.Port)
	}
	if a.MaxUploadBytes <= 0 {
		return fmt.Errorf("max_upload_bytes must be positive")
	}
	if a.TokenTTL <= 0 {
		return fmt.Errorf("token_ttl must be positive")
	}
	if a.BcryptCost < 4 || a.BcryptCost > 31 {
		return fmt.Errorf("bcrypt_cost %d: want 4..31", a.BcryptCost)
	}
	if a.AntiSteal.CheckToken && a.AntiSteal.SecretKey == "" {
		return fmt.Errorf("anti_steal.secret_key is required: download URLs are signed with it " +
			"(generate one, e.g. head -c 24 /dev/urandom | base64, and render the Nginx config from this file)")
	}
	if a.AntiSteal.SecretKey != "" && !secretRe.MatchString(a.AntiSteal.SecretKey) {
		return fmt.Errorf("anti_steal.secret_key: want 16 to 128 of A-Z a-z 0-9 _ . ~ + / = -")
	}
	if a.AntiSteal.TokenTTL <= 0 {
		return fmt.Errorf("anti_steal.token_ttl must be positive")
	}
	if a.LoginThrottle.UserFailures < 1 || a.LoginThrottle.AddrFailures < 1 || a.LoginThrottle.MaxLock < time.Second {
		return fmt.Errorf("login_throttle: user_failures and addr_failures must be >= 1, max_lock >= 1 s")
	}
	if a.QuotaBytes < 0 {
		return fmt.Errorf("quota_bytes must be 0 (unlimited) or a size")
	}
	if a.TrashDays < 1 || a.TrashDays > 36500 {
		return fmt.Errorf("trash_days %d: want 1..36500", a.TrashDays)
	}
	return nil
}

// RedisAddr is "ip:port" of Redis.
func (a *Config) RedisAddr() string {
	return net.JoinHostPort(a.Redis.IP, strconv.Itoa(a.Redis.Port))
}
