package app

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func FuzzParseAttrs(f *testing.F) {
	f.Add(` form-data; user="alice" filename="a b.txt" md5="0123456789abcdef0123456789abcdef" size=42`)
	f.Add(`form-data; name="file"; filename="x.png"`)
	f.Add(`user="unterminated`)
	f.Add(`=x ==y; k= "q"`)
	f.Fuzz(func(t *testing.T, s string) {
		m := ParseAttrs(s)
		for k, v := range m {
			if strings.ContainsAny(k, " \t;=") {
				t.Fatalf("key %q", k)
			}
			if len(v) > len(s) {
				t.Fatalf("value %q longer than input", v)
			}
		}
	})
}

func TestParseAttrs(t *testing.T) {
	m := ParseAttrs(` form-data; user="alice" filename="a b;c.txt" md5="ABC" size=42; token=t0k`)
	want := map[string]string{"user": "alice", "filename": "a b;c.txt", "md5": "ABC", "size": "42", "token": "t0k"}
	if len(m) != len(want) {
		t.Fatalf("%v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Fatalf("%s = %q, want %q", k, m[k], v)
		}
	}
}

func FuzzCopyUntil(f *testing.F) {
	f.Add([]byte("abc\r\n--b--"), []byte("\r\n--b"))
	f.Add([]byte("\r\n-\r\n--\r\n--b"), []byte("\r\n--b"))
	f.Add([]byte("aaaa"), []byte("aa"))
	f.Fuzz(func(t *testing.T, data, delim []byte) {
		if len(delim) == 0 || len(delim) > 70 {
			return
		}
		var out bytes.Buffer
		err := CopyUntil(&out, bufio.NewReaderSize(bytes.NewReader(data), 16), delim)
		i := bytes.Index(data, delim)
		if i < 0 {
			if err == nil {
				t.Fatalf("no delimiter but no error")
			}
			return
		}
		if err != nil {
			t.Fatalf("delimiter at %d: %v", i, err)
		}
		if !bytes.Equal(out.Bytes(), data[:i]) {
			t.Fatalf("got %q want %q", out.Bytes(), data[:i])
		}
	})
}

func FuzzOnePartHead(f *testing.F) {
	f.Add([]byte("------WebKitFormBoundary\r\nContent-Disposition: form-data; user=\"u\" filename=\"f\" md5=\"m\" size=3\r\nContent-Type: application/octet-stream\r\n\r\nabc\r\n------WebKitFormBoundary"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("b\nContent-Disposition:\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadOnePartHead(bufio.NewReaderSize(bytes.NewReader(data), 16))
		if err == nil && (h.Boundary == "" || h.Attrs == nil) {
			t.Fatalf("accepted without boundary or attributes: %+v", h)
		}
	})
}
