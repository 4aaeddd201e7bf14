package conf

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrDisabled is returned (wrapped, together with the parsed config) when a
// daemon config says disabled=true; FastDFS refuses to start then.
var ErrDisabled = errors.New("config file is disabled (disabled=true)")

// fields reads typed values from one section and collects every problem, so
// that a bad config reports all its mistakes at once.
type fields struct {
	s    *Section
	errs []error
}

func (r *fields) fail(format string, a ...any) {
	r.errs = append(r.errs, fmt.Errorf(format, a...))
}

func (r *fields) err(what string) error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w", what, errors.Join(r.errs...))
}

// positive reads an int where 0 or less means "use the default", as FastDFS does.
func (r *fields) positive(key string, def int) int {
	if n := r.s.Int(key, def); n > 0 {
		return n
	}
	return def
}

func (r *fields) positiveSeconds(key string, def time.Duration) time.Duration {
	if d := r.s.Seconds(key, def); d > 0 {
		return d
	}
	return def
}

func (r *fields) nonNegSeconds(key string, def time.Duration) time.Duration {
	d := r.s.Seconds(key, def)
	if d < 0 {
		r.fail("%s: must not be negative", key)
		return def
	}
	return d
}

func (r *fields) bytes(key string, def int64) int64 {
	n, err := r.s.Bytes(key, def)
	if err != nil {
		r.errs = append(r.errs, err)
		return def
	}
	if n < 0 {
		r.fail("%s: must not be negative", key)
		return def
	}
	return n
}

// choice reads an int that must be one of allowed.
func (r *fields) choice(key string, def int, allowed ...int) int {
	n := r.s.Int(key, def)
	for _, a := range allowed {
		if n == a {
			return n
		}
	}
	r.fail("%s: %d is not one of %v", key, n, allowed)
	return def
}

func (r *fields) port(key string, def int) int {
	n := r.s.Int(key, def)
	if n < 1 || n > 65535 {
		r.fail("%s: %d is not a port number 1..65535", key, n)
		return def
	}
	return n
}

// timeOfDay reads "HH:MM" (hour 0..23, minute 0..59) and returns it as "%02d:%02d".
func (r *fields) timeOfDay(key, def string) string {
	if !r.s.Has(key) {
		return def
	}
	v := r.s.String(key, def)
	h, m, ok := parseHHMM(v)
	if !ok {
		r.fail("%s: %q is not a time of day HH:MM", key, cut(v, 40))
		return def
	}
	return fmt.Sprintf("%02d:%02d", h, m)
}

func parseHHMM(v string) (int, int, bool) {
	hs, ms, ok := strings.Cut(v, ":")
	if !ok || hs == "" || ms == "" || len(hs) > 2 || len(ms) > 2 ||
		strings.Trim(hs, "0123456789") != "" || strings.Trim(ms, "0123456789") != "" {
		return 0, 0, false
	}
	h, _ := strconv.Atoi(hs)
	m, _ := strconv.Atoi(ms)
	if h > 23 || m > 59 {
		return 0, 0, false
	}
	return h, m, true
}

var logLevels = []string{"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"}

func (r *fields) logLevel() string {
	v := strings.ToLower(r.s.String("log_level", "info"))
	if v == "" {
		return "info"
	}
	for _, l := range logLevels {
		if v == l {
			return v
		}
	}
	r.fail("log_level: %q is not one of %v", cut(v, 40), logLevels)
	return "info"
}

func (r *fields) addressFamily() string {
	v := r.s.String("address_family", "auto")
	for _, a := range []string{"auto", "IPv4", "IPv6", "both"} {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	if v == "" {
		return "auto"
	}
	r.fail("address_family: %q is not auto, IPv4, IPv6 or both", cut(v, 40))
	return "auto"
}

// basePath reads a required directory; it does not have to exist yet.
func (r *fields) basePath() string {
	v := r.s.String("base_path", "")
	if v == "" {
		r.fail("base_path: required")
		return ""
	}
	return filepath.Clean(v)
}

// allowHosts keeps the allow_hosts entries as written ("*" when there are none).
func (r *fields) allowHosts() []string {
	var out []string
	for _, v := range r.s.Strings("allow_hosts") {
		if v != "" {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return []string{"*"}
	}
	return out
}

// trackers reads every tracker_server as normalised "host:port", dropping
// exact duplicates (first occurrence wins).
func (r *fields) trackers() []HostPort {
	var out []HostPort
	seen := map[string]bool{}
	for _, v := range r.s.Strings("tracker_server") {
		hp, err := ParseHostPort(v, DefaultTrackerPort)
		if err != nil {
			r.fail("tracker_server: %w", err)
			continue
		}
		if k := hp.String(); !seen[k] {
			seen[k] = true
			out = append(out, hp)
		}
	}
	switch {
	case len(out) == 0 && len(r.errs) == 0:
		r.fail("tracker_server: at least one is required")
	case len(out) > MaxTrackers:
		r.fail("tracker_server: %d given, at most %d allowed", len(out), MaxTrackers)
	}
	return out
}

// storageIDs loads storage_ids_filename (resolved against the config's directory).
func (r *fields) storageIDs(f *File) (string, []StorageIDEntry) {
	name := r.s.String("storage_ids_filename", "")
	if name == "" {
		r.fail("storage_ids_filename: required when use_storage_id is true")
		return "", nil
	}
	path := f.Resolve(name)
	ids, err := LoadStorageIDs(path)
	if err != nil {
		r.errs = append(r.errs, err)
	}
	return path, ids
}
