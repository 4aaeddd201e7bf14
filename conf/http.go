package conf

import (
	"net"
	"strings"
	"time"
)

// StorageHTTP is the storage's HTTP download side. http.server_port and
// http.bind_addr are ours (the storage's own small endpoint that Nginx asks
// for token checks and for files this replica does not hold yet); the other
// keys are FastDFS's http.conf (docs/protocol.md §10). They may sit in storage.conf
// itself or in a file it pulls in with "#include http.conf".
//
// Note: FastDFS before 6.13 also had http.server_port in storage.conf, as the
// port of the web server (Nginx) reported to the tracker. Here it is the
// port of the storage's helper endpoint, which Nginx proxies to; Nginx's own
// port is chosen when its config is rendered (fdfs_nginxconf -listen).
type StorageHTTP struct {
	ServerPort         int           // http.server_port; 0 = no HTTP endpoint
	BindAddr           string        // http.bind_addr; "" = the storage's bind_addr
	CheckToken         bool          // http.anti_steal.check_token
	TokenTTL           time.Duration // http.anti_steal.token_ttl, 600s
	SecretKey          string        // http.anti_steal.secret_key, at most 128 bytes, required with CheckToken
	TokenCheckFail     string        // http.anti_steal.token_check_fail: file sent (status 200) when a token fails; "" = 403
	DefaultContentType string        // http.default_content_type, application/octet-stream
	MimeTypesFilename  string        // http.mime_types_filename; "" = the built-in table
	MultiRange         bool          // http.multi_range.enabled, true
}

// HTTP limits and defaults (docs/protocol.md §10).
const (
	MaxSecretKeyLen    = 128
	DefaultTokenTTL    = 600 * time.Second
	DefaultContentType = "application/octet-stream"
)

// DefaultStorageHTTP is the http.* part of DefaultStorage.
func DefaultStorageHTTP() StorageHTTP {
	return StorageHTTP{TokenTTL: DefaultTokenTTL, DefaultContentType: DefaultContentType, MultiRange: true}
}

// storageHTTP reads the http.* keys of a storage.conf. Relative file names
// are resolved against the directory of the config file.
func (r *fields) storageHTTP(f *File) StorageHTTP {
	s := r.s
	h := DefaultStorageHTTP()
	h.ServerPort = s.Int("http.server_port", 0)
	if h.ServerPort < 0 || h.ServerPort > 65535 {
		r.fail("http.server_port: %d is not 0 (off) or a port number", h.ServerPort)
		h.ServerPort = 0
	}
	h.BindAddr = s.String("http.bind_addr", "")
	if h.BindAddr != "" && net.ParseIP(h.BindAddr) == nil {
		r.fail("http.bind_addr: %q is not an IP address", cut(h.BindAddr, 40))
	}
	h.CheckToken = s.Bool("http.anti_steal.check_token", false)
	h.TokenTTL = r.positiveSeconds("http.anti_steal.token_ttl", h.TokenTTL)
	h.SecretKey = s.String("http.anti_steal.secret_key", "")
	switch {
	case len(h.SecretKey) > MaxSecretKeyLen:
		r.fail("http.anti_steal.secret_key: %d bytes, at most %d", len(h.SecretKey), MaxSecretKeyLen)
	case h.CheckToken && h.SecretKey == "":
		r.fail("http.anti_steal.secret_key: required when http.anti_steal.check_token is true")
	}
	h.TokenCheckFail = f.Resolve(s.String("http.anti_steal.token_check_fail", ""))
	if v := strings.TrimSpace(s.String("http.default_content_type", "")); v != "" {
		if !validMediaType(v) {
			r.fail("http.default_content_type: %q is not a media type", cut(v, 40))
		} else {
			h.DefaultContentType = v
		}
	}
	h.MimeTypesFilename = f.Resolve(s.String("http.mime_types_filename", ""))
	h.MultiRange = s.Bool("http.multi_range.enabled", true)
	return h
}

// validMediaType accepts type/subtype made of token characters (no
// parameters): the value is pasted into HTTP headers and the Nginx config.
func validMediaType(v string) bool {
	t, sub, ok := strings.Cut(v, "/")
	return ok && isToken(t) && isToken(sub)
}

func isToken(s string) bool {
	if s == "" || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&-^_.+", c) >= 0) {
			return false
		}
	}
	return true
}
