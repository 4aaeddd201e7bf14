package conf

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func parse(t *testing.T, text string) *File {
	t.Helper()
	f, err := Parse([]byte(text), t.TempDir())
	require.NoError(t, err)
	return f
}

func write(t *testing.T, path, text string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func TestParseBasicSyntax(t *testing.T) {
	f := parse(t, strings.Join([]string{
		"# a comment",
		"   # an indented comment = not an item",
		"",
		"  port  =  22122  ",
		"a = b = c",                   // split at the first '='
		"path = /x/y # not a comment", // no inline comments
		`quoted = "v"`,                // no quoting
		"no equals sign here",         // ignored
		"= no key",                    // ignored
		"empty =",
		"crlf = v\r",
		"\ttabbed\t=\tt\t",
	}, "\n"))
	require.Equal(t, "22122", f.String("port", ""))
	require.Equal(t, "b = c", f.String("a", ""))
	require.Equal(t, "/x/y # not a comment", f.String("path", ""))
	require.Equal(t, `"v"`, f.String("quoted", ""))
	require.Equal(t, "v", f.String("crlf", ""))
	require.Equal(t, "t", f.String("tabbed", ""))
	require.True(t, f.Has("empty"))
	require.Equal(t, "", f.String("empty", "def"))
	require.False(t, f.Has("missing"))
	require.Equal(t, "def", f.String("missing", "def"))
	require.False(t, f.Has("no equals sign here"))
	require.False(t, f.Has(""))
	require.Equal(t, []string{"port", "a", "path", "quoted", "empty", "crlf", "tabbed"}, f.Keys())
}

func TestRepeatedKeys(t *testing.T) {
	f := parse(t, "tracker_server = a:1\nx = 1\ntracker_server = b:2\ntracker_server=c:3\n")
	require.Equal(t, []string{"a:1", "b:2", "c:3"}, f.Strings("tracker_server"))
	require.Equal(t, "c:3", f.String("tracker_server", ""))
	require.Nil(t, f.Strings("nope"))
	// Strings returns a copy.
	f.Strings("tracker_server")[0] = "zz"
	require.Equal(t, "a:1", f.Strings("tracker_server")[0])
}

func TestSections(t *testing.T) {
	f := parse(t, "a = global\n[access-log]\nenabled = true\na = inside\n[ error-log ]\nx=1\n[]\nb = back\n[access-log]\nmore = 2\n")
	require.Equal(t, "global", f.String("a", ""))
	require.Equal(t, "back", f.String("b", ""))
	require.False(t, f.Has("enabled"), "section keys are not global")
	al := f.Section("access-log")
	require.Equal(t, "access-log", al.Name())
	require.True(t, al.Bool("enabled", false))
	require.Equal(t, "inside", al.String("a", ""))
	require.Equal(t, "2", al.String("more", ""))
	require.Equal(t, "1", f.Section("error-log").String("x", ""))
	require.Equal(t, []string{"access-log", "error-log"}, f.Sections())
	// A missing section is empty, not nil.
	require.Equal(t, 7, f.Section("nope").Int("x", 7))
	require.Same(t, &f.globalSection, f.Section(""))
}

func TestLongNamesAndValuesAreCut(t *testing.T) {
	long := strings.Repeat("k", 100)
	val := strings.Repeat("v", 300)
	f := parse(t, long+" = "+val+"\n")
	require.False(t, f.Has(long))
	require.True(t, f.Has(long[:MaxNameLen]))
	require.Equal(t, val[:MaxValueLen], f.String(long[:MaxNameLen], ""))
	sec := strings.Repeat("s", 80)
	f = parse(t, "["+sec+"]\nx=1\n")
	require.Equal(t, "1", f.Section(sec[:MaxNameLen]).String("x", ""))
}

func TestBool(t *testing.T) {
	cases := map[string]bool{
		"true": true, "TRUE": true, "Yes": true, "on": true, "ON": true, "1": true,
		"false": false, "no": false, "off": false, "0": false, "2": false, "": false,
		"truee": false, "y": false, "t": false, "1 ": true, // values are trimmed
	}
	for v, want := range cases {
		f := parse(t, "b = "+v+"\n")
		require.Equal(t, want, f.Bool("b", !want), "value %q", v)
	}
	f := parse(t, "")
	require.True(t, f.Bool("b", true))
	require.False(t, f.Bool("b", false))
}

func TestIntAtoi(t *testing.T) {
	cases := []struct {
		v    string
		want int64
	}{
		{"42", 42}, {"+7", 7}, {"-3", -3}, {"12abc", 12}, {"60s", 60}, {"0x10", 0},
		{"abc", 0}, {"", 0}, {"-", 0}, {"1.9", 1}, {"007", 7},
		{"99999999999999999999999", math.MaxInt64}, {"-99999999999999999999999", math.MinInt64},
	}
	for _, c := range cases {
		f := parse(t, "n = "+c.v+"\n")
		require.Equal(t, c.want, f.Int64("n", 99), "value %q", c.v)
	}
	f := parse(t, "big = 5000000000\nneg = -5000000000\nsmall = 5\n")
	require.Equal(t, math.MaxInt32, f.Int("big", 0))
	require.Equal(t, math.MinInt32, f.Int("neg", 0))
	require.Equal(t, 5, f.Int("small", 0))
	require.Equal(t, 9, f.Int("missing", 9))
	require.Equal(t, int64(9), f.Int64("missing", 9))
}

func TestSeconds(t *testing.T) {
	f := parse(t, "a = 30\nb = 2m\nc = 99999999999999999999\n")
	require.Equal(t, 30*time.Second, f.Seconds("a", 0))
	require.Equal(t, 2*time.Second, f.Seconds("b", 0), "atoi: the unit is ignored")
	require.Positive(t, f.Seconds("c", 0), "saturates instead of overflowing")
	require.Equal(t, time.Minute, f.Seconds("missing", time.Minute))
}

func TestBytes(t *testing.T) {
	ok := map[string]int64{
		"0": 0, "1048576": 1048576, "256KB": 256 << 10, "256k": 256 << 10, "64MB": 64 << 20,
		"64m": 64 << 20, "20G": 20 << 30, "20gigs": 20 << 30, "1T": 1 << 40, "1tb": 1 << 40,
		"": 0, "-1K": -1024, "+2K": 2048, "8KB ": 8 << 10,
	}
	for v, want := range ok {
		f := parse(t, "s = "+v+"\n")
		got, err := f.Bytes("s", 7)
		require.NoError(t, err, "value %q", v)
		require.Equal(t, want, got, "value %q", v)
	}
	for _, v := range []string{"10 K", "abc", "5X", "1.5G", "99999999999999999999", "9000000T", "K5"} {
		f := parse(t, "s = "+v+"\n")
		_, err := f.Bytes("s", 7)
		require.Error(t, err, "value %q", v)
		require.Contains(t, err.Error(), "s:")
	}
	got, err := parse(t, "").Bytes("s", 7)
	require.NoError(t, err)
	require.Equal(t, int64(7), got)
}

func TestIncludeRelativeToIncludingFile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "sub", "inner.conf"), "inner = 1\n#include ../deep/x.conf\n[sec-in-include]\ny = 2\n")
	write(t, filepath.Join(dir, "deep", "x.conf"), "deep = yes\ntracker_server = b\n")
	main := write(t, filepath.Join(dir, "main.conf"),
		"tracker_server = a\n[section]\nbefore = 1\n#include sub/inner.conf\nafter = 2\n#include\t"+filepath.Join(dir, "deep", "x.conf")+"\n")
	f, err := Load(main)
	require.NoError(t, err)
	require.Equal(t, "1", f.String("inner", ""))
	require.True(t, f.Bool("deep", false))
	require.Equal(t, "1", f.Section("section").String("before", ""))
	// The section is reset to global after an include.
	require.Equal(t, "2", f.String("after", ""))
	require.False(t, f.Section("section").Has("after"))
	require.Equal(t, "2", f.Section("sec-in-include").String("y", ""))
	require.Equal(t, []string{"a", "b", "b"}, f.Strings("tracker_server"))
	require.Equal(t, dir, f.Dir())
	require.Equal(t, filepath.Join(dir, "ids.conf"), f.Resolve("ids.conf"))
	require.Equal(t, "/abs/ids.conf", f.Resolve("/abs/ids.conf"))
	require.Equal(t, "", f.Resolve(""))

	// Parse resolves against the dir argument.
	f, err = Parse([]byte("#include sub/inner.conf\n"), dir)
	require.NoError(t, err)
	require.Equal(t, "1", f.String("inner", ""))
}

func TestIncludeLookalikesAreComments(t *testing.T) {
	f := parse(t, "#include\n#includes x\n##include missing.conf\n# include missing.conf\n#INCLUDE missing.conf\nk=v\n")
	require.Equal(t, "v", f.String("k", ""))
}

func TestIncludeErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Parse([]byte("a=1\n#include missing.conf\n"), dir)
	require.ErrorContains(t, err, "missing.conf")
	require.ErrorContains(t, err, ":2:")

	_, err = Parse([]byte("#include http://example.com/x.conf\n"), dir)
	require.ErrorContains(t, err, "URLs are not supported")

	_, err = Parse([]byte("#include "+dir+"\n"), dir)
	require.ErrorContains(t, err, "not a regular file")

	self := write(t, filepath.Join(dir, "self.conf"), "#include self.conf\n")
	_, err = Load(self)
	require.ErrorContains(t, err, "include loop")

	write(t, filepath.Join(dir, "a.conf"), "#include b.conf\n")
	write(t, filepath.Join(dir, "b.conf"), "#include a.conf\n")
	_, err = Load(filepath.Join(dir, "a.conf"))
	require.ErrorContains(t, err, "include loop")

	// A chain of 11 distinct files is one level too deep; 10 is fine.
	chain := t.TempDir()
	for i := 0; i < 12; i++ {
		write(t, filepath.Join(chain, "c"+string(rune('a'+i))+".conf"),
			"level"+string(rune('a'+i))+" = 1\n#include c"+string(rune('a'+i+1))+".conf\n")
	}
	write(t, filepath.Join(chain, "cm.conf"), "end = 1\n")
	_, err = Load(filepath.Join(chain, "cb.conf")) // b..l includes m: 11 includes deep
	require.ErrorContains(t, err, "nested deeper than 10")
	f, err := Load(filepath.Join(chain, "cc.conf")) // c..l includes m: exactly 10 deep
	require.NoError(t, err)
	require.True(t, f.Has("end"))

	_, err = Parse([]byte("#@function SHELL_FUNC\nbind_addr = hostname -i\n"), dir)
	require.ErrorContains(t, err, "unsupported directive")
	_, err = Parse([]byte("#@if %{x} in [1]\n"), dir)
	require.ErrorContains(t, err, "unsupported directive")
}

func TestIncludeSharesOneFileTwice(t *testing.T) {
	// Including the same file twice (not a loop) is allowed.
	dir := t.TempDir()
	write(t, filepath.Join(dir, "t.conf"), "tracker_server = x\n")
	f, err := Parse([]byte("#include t.conf\n#include t.conf\n"), dir)
	require.NoError(t, err)
	require.Equal(t, []string{"x", "x"}, f.Strings("tracker_server"))
}

func TestSizeLimits(t *testing.T) {
	big := make([]byte, MaxFileSize+1)
	for i := range big {
		big[i] = '#'
	}
	_, err := Parse(big, "")
	require.ErrorContains(t, err, "limit")

	dir := t.TempDir()
	p := filepath.Join(dir, "big.conf")
	require.NoError(t, os.WriteFile(p, big, 0o644))
	_, err = Load(p)
	require.ErrorContains(t, err, "limit")
	_, err = Parse([]byte("#include big.conf\n"), dir)
	require.ErrorContains(t, err, "limit")

	// Many includes of a large file hit the total budget.
	require.NoError(t, os.WriteFile(p, big[:MaxFileSize], 0o644))
	_, err = Parse([]byte(strings.Repeat("#include big.conf\n", MaxTotalSize/MaxFileSize+1)), dir)
	require.ErrorContains(t, err, "together")

	_, err = Load(filepath.Join(dir, "absent.conf"))
	require.Error(t, err)
}
