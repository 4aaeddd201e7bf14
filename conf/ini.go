package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Limits of the ini reader (docs/protocol.md §8.1).
const (
	MaxFileSize    = 1 << 20 // one config file; larger files are refused
	MaxTotalSize   = 8 << 20 // all files of one Load/Parse together, includes counted
	MaxIncludeDeep = 10      // nesting depth of #include
	MaxNameLen     = 63      // longer item and section names are cut
	MaxValueLen    = 255     // longer values are cut
)

// trimSet is what libfastcommon strips around lines, names and values.
const trimSet = " \t\r\n"

// Section holds the items of one [section] (or of the global part of a file).
// Every occurrence of a key is kept, in file order.
type Section struct {
	name string
	keys []string            // distinct keys, first-seen order
	vals map[string][]string // key -> values in file order
}

// File is a parsed FastDFS config file. The getters promoted from Section
// read the global section; Section(name) gives a [name] section.
//
// Keys inside [name] sections are NOT visible through the global getters:
// "[access-log]\nenabled=true" is f.Section("access-log").Bool("enabled", false).
// Dotted global keys such as "http.anti_steal.secret_key" are ordinary keys.
type File struct {
	globalSection
	sections map[string]*Section
	order    []string // section names, first-seen order
	dir      string   // directory that relative paths are resolved against
}

// globalSection lets File embed a Section while keeping the method name
// Section for the [name] lookup.
type globalSection = Section

func newSection(name string) Section {
	return Section{name: name, vals: map[string][]string{}}
}

// Load reads and parses the config file at path. Relative #include paths and
// Dir() are resolved against the directory of path.
func Load(path string) (*File, error) {
	p := &parser{}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("conf %s: %w", path, err)
	}
	data, err := p.read(abs)
	if err != nil {
		return nil, fmt.Errorf("conf %s: %w", path, err)
	}
	f := p.newFile(filepath.Dir(abs))
	p.stack = []string{abs}
	if err := p.parse(f, data, filepath.Dir(abs), abs, 0); err != nil {
		return nil, err
	}
	return f, nil
}

// Parse parses config text. dir resolves relative #include paths (and is
// returned by Dir()); "" means the current directory.
func Parse(data []byte, dir string) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("conf: input of %d bytes exceeds the %d byte limit", len(data), MaxFileSize)
	}
	if dir == "" {
		dir = "."
	}
	p := &parser{total: int64(len(data))}
	f := p.newFile(dir)
	if err := p.parse(f, data, dir, "<input>", 0); err != nil {
		return nil, err
	}
	return f, nil
}

// Dir is the directory relative paths in this file are resolved against.
func (f *File) Dir() string { return f.dir }

// Resolve returns path unchanged when absolute or empty, else joined to Dir().
func (f *File) Resolve(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(f.dir, path)
}

// Section returns the named section; "" is the global section. A missing
// section is returned empty (never nil), so getters yield their defaults.
func (f *File) Section(name string) *Section {
	if name == "" {
		return &f.globalSection
	}
	if s, ok := f.sections[name]; ok {
		return s
	}
	s := newSection(name)
	return &s
}

// Sections lists the names of the [sections] present, in first-seen order.
func (f *File) Sections() []string { return append([]string(nil), f.order...) }

type parser struct {
	total     int64    // bytes read so far, includes counted
	stack     []string // absolute paths of the files being included, for loop detection
	noInclude bool     // text from the network: #include is refused
}

func (p *parser) newFile(dir string) *File {
	return &File{globalSection: newSection(""), sections: map[string]*Section{}, dir: dir}
}

// read loads one file, refusing non-regular files (a FIFO or device could
// block or never end) and anything over the size limits.
func (p *parser) read(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("file of %d bytes exceeds the %d byte limit", st.Size(), MaxFileSize)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	// The file may grow between Stat and Read: read at most one byte past the limit.
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("file exceeds the %d byte limit", MaxFileSize)
	}
	p.total += int64(len(data))
	if p.total > MaxTotalSize {
		return nil, fmt.Errorf("config and its includes exceed %d bytes together", MaxTotalSize)
	}
	return data, nil
}

func (p *parser) parse(f *File, data []byte, dir, name string, depth int) error {
	cur := &f.globalSection
	lineNo := 0
	for len(data) > 0 {
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		lineNo++
		line := strings.Trim(string(raw), trimSet)
		if line == "" {
			continue
		}
		if line[0] == '#' {
			if inc, ok := includeTarget(line); ok {
				if err := p.include(f, inc, dir, depth); err != nil {
					return fmt.Errorf("conf %s:%d: %w", name, lineNo, err)
				}
				cur = &f.globalSection // included items land in global; so does what follows
				continue
			}
			if strings.HasPrefix(line, "#@") {
				// #@function / #@if / #@for ... change the meaning of the lines
				// that follow; ignoring them would load wrong values silently.
				return fmt.Errorf("conf %s:%d: unsupported directive %q", name, lineNo, cut(line, 40))
			}
			continue
		}
		if line[0] == '[' && line[len(line)-1] == ']' {
			sec := cut(strings.Trim(line[1:len(line)-1], trimSet), MaxNameLen)
			if sec == "" {
				cur = &f.globalSection
				continue
			}
			s, ok := f.sections[sec]
			if !ok {
				ns := newSection(sec)
				s = &ns
				f.sections[sec] = s
				f.order = append(f.order, sec)
			}
			cur = s
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			continue // libfastcommon ignores lines without '='
		}
		key := cut(strings.Trim(line[:eq], trimSet), MaxNameLen)
		if key == "" {
			continue
		}
		cur.add(key, cut(strings.Trim(line[eq+1:], trimSet), MaxValueLen))
	}
	return nil
}

// includeTarget recognises "#include<space or tab>path".
func includeTarget(line string) (string, bool) {
	const kw = "#include"
	if len(line) <= len(kw) || !strings.HasPrefix(line, kw) {
		return "", false
	}
	if c := line[len(kw)]; c != ' ' && c != '\t' {
		return "", false
	}
	return strings.Trim(line[len(kw):], trimSet), true
}

func (p *parser) include(f *File, target, dir string, depth int) error {
	if p.noInclude {
		return errors.New("#include is not allowed here")
	}
	if target == "" {
		return errors.New("#include without a file name")
	}
	low := strings.ToLower(target)
	if strings.HasPrefix(low, "http://") || strings.HasPrefix(low, "https://") {
		return fmt.Errorf("#include %s: URLs are not supported", target)
	}
	if depth+1 > MaxIncludeDeep {
		return fmt.Errorf("#include %s: nested deeper than %d", target, MaxIncludeDeep)
	}
	path := target
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("#include %s: %w", target, err)
	}
	for _, s := range p.stack {
		if s == abs {
			return fmt.Errorf("#include %s: include loop", target)
		}
	}
	data, err := p.read(abs)
	if err != nil {
		return fmt.Errorf("#include %s: %w", target, err)
	}
	p.stack = append(p.stack, abs)
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	return p.parse(f, data, filepath.Dir(abs), abs, depth+1)
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Section) add(key, val string) {
	if _, ok := s.vals[key]; !ok {
		s.keys = append(s.keys, key)
	}
	s.vals[key] = append(s.vals[key], val)
}

// Name is the section name, "" for global.
func (s *Section) Name() string { return s.name }

// Keys lists the distinct keys in first-seen order.
func (s *Section) Keys() []string { return append([]string(nil), s.keys...) }

// Has reports whether key occurs at least once (even with an empty value).
func (s *Section) Has(key string) bool { _, ok := s.vals[key]; return ok }

// Strings returns every value of key in file order (nil when absent).
func (s *Section) Strings(key string) []string {
	return append([]string(nil), s.vals[key]...)
}

// String returns the last value of key, or def when the key is absent.
// A present but empty key gives "".
func (s *Section) String(key, def string) string {
	v, ok := s.vals[key]
	if !ok {
		return def
	}
	return v[len(v)-1]
}

// Int64 parses the value with atoi semantics (optional sign, leading digits,
// the rest ignored, no digits = 0; saturates instead of overflowing).
func (s *Section) Int64(key string, def int64) int64 {
	v, ok := s.vals[key]
	if !ok {
		return def
	}
	n, _, _ := atoi(v[len(v)-1])
	return n
}

// Int is Int64 saturated to the 32-bit range FastDFS's C ints have.
func (s *Section) Int(key string, def int) int {
	n := s.Int64(key, int64(def))
	if n > math.MaxInt32 {
		return math.MaxInt32
	}
	if n < math.MinInt32 {
		return math.MinInt32
	}
	return int(n)
}

// Bool is true for true/yes/on/1 (case-insensitive) and false for anything
// else; def when the key is absent.
func (s *Section) Bool(key string, def bool) bool {
	v, ok := s.vals[key]
	if !ok {
		return def
	}
	return parseBool(v[len(v)-1])
}

// Seconds reads an atoi number of seconds.
func (s *Section) Seconds(key string, def time.Duration) time.Duration {
	if !s.Has(key) {
		return def
	}
	n := s.Int64(key, 0)
	const limit = math.MaxInt64 / int64(time.Second)
	switch {
	case n > limit:
		n = limit
	case n < -limit:
		n = -limit
	}
	return time.Duration(n) * time.Second
}

// Bytes reads a byte size: a number with an optional K/M/G/T unit
// (case-insensitive, powers of 1024, anything after the unit letter ignored).
func (s *Section) Bytes(key string, def int64) (int64, error) {
	v, ok := s.vals[key]
	if !ok {
		return def, nil
	}
	n, err := ParseBytes(v[len(v)-1])
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return n, nil
}

func parseBool(v string) bool {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true
	}
	return false
}

// atoi is C atoi/strtoll on an already trimmed string: it returns the number,
// how many bytes it used (0 when there are no digits) and whether it
// overflowed (the number is then saturated).
func atoi(v string) (int64, int, bool) {
	i := 0
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	neg := false
	if i < len(v) && (v[i] == '+' || v[i] == '-') {
		neg = v[i] == '-'
		i++
	}
	start := i
	var n uint64
	over := false
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		if !over {
			n = n*10 + uint64(v[i]-'0')
			if n > math.MaxInt64 {
				over = true
			}
		}
		i++
	}
	if i == start {
		return 0, 0, false
	}
	switch {
	case over && neg:
		return math.MinInt64, i, true
	case over:
		return math.MaxInt64, i, true
	case neg:
		return -int64(n), i, false
	}
	return int64(n), i, false
}

// ParseBytes parses a FastDFS byte size such as "256KB", "64MB", "20G" or
// "1048576". A plain number is bytes and "" is 0. A missing number or an
// unknown unit is an error.
func ParseBytes(v string) (int64, error) {
	n, used, over := atoi(v)
	if over {
		return 0, fmt.Errorf("invalid size %q: too large", cut(v, 40))
	}
	if v == "" {
		return 0, nil // as strtol: an empty value is 0
	}
	if used == 0 {
		return 0, fmt.Errorf("invalid size %q: no number", cut(v, 40))
	}
	rest := v[used:]
	if rest == "" {
		return n, nil
	}
	var mul int64
	switch rest[0] {
	case 'k', 'K':
		mul = 1 << 10
	case 'm', 'M':
		mul = 1 << 20
	case 'g', 'G':
		mul = 1 << 30
	case 't', 'T':
		mul = 1 << 40
	default:
		return 0, fmt.Errorf("invalid size %q: unit must be K, M, G or T", cut(v, 40))
	}
	if n > math.MaxInt64/mul || n < math.MinInt64/mul {
		return 0, fmt.Errorf("invalid size %q: too large", cut(v, 40))
	}
	return n * mul, nil
}
