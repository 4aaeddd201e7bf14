package storage

import (
	"bytes"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"yunpan/dfs/proto"
)

// FuzzHTTPPath sends arbitrary URL paths and queries (and a Range header)
// to the storage's HTTP handler. It must not panic, must answer a known
// status, and must never send bytes of a file outside the store paths.
func FuzzHTTPPath(f *testing.F) {
	o := testOpts(f)
	o.HTTP.ServerPort = freePort(f, "127.0.0.1")
	o.NetworkTimeout = 2 * time.Second
	o.ConnectTimeout = time.Second
	s := start(f, o)
	data := []byte("the stored file's bytes")
	remote := upload(f, dial(f, s), 0, "txt", data)
	// Bait outside and next to the store path's data tree.
	for _, p := range []string{
		filepath.Join(o.BasePath, "secret.txt"),
		filepath.Join(o.StorePaths[0], "secret.txt"),
		filepath.Join(s.paths[0].dataDir, "secret.txt"),
		filepath.Join(s.paths[0].dataDir, "00", "secret.txt"),
	} {
		if err := os.WriteFile(p, []byte("SECRET"), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	// A fetch from the group goes to a closed port: fast, local, 502.
	s.cluster.mu.Lock()
	s.cluster.members = []proto.StorageBrief{{Status: proto.StatusActive, IP: "127.0.0.1", Port: int32(freePort(f, "127.0.0.1"))}}
	s.cluster.mu.Unlock()

	for _, seed := range [][3]string{
		{"/group1/" + remote, "", ""},
		{"/group1/" + remote, "attachment=x.txt", "bytes=100-199"},
		{"/group1/" + remote, "token=" + HTTPToken(remote, "k", 0) + "&ts=0", "bytes=-5"},
		{"/group1/" + remote[:len(remote)-7] + "000.txt", "", ""},
		{"/group1/M00/00/00/../../../secret.txt", "", ""},
		{"/group1/M00/00/../secret.txt", "", ""},
		{"/group1/M00/00/00/..", "", ""},
		{"/group1/M00/00/secret.txt", "", ""},
		{"/group1/00/00/secret.txt", "", ""},
		{"/group1/M00/00/00/%2e%2e", "filename=%E4%B8%AD", "bytes=0-1,2-3"},
		{"/auth", "uri=" + url.QueryEscape("/group1/"+remote+"?token=x&ts=1"), ""},
		{"//group1//M00", "", ""},
		{"/group1/M00/00/00/wKgBZGVT8QCAABI0AAAwOd6tvu812.jpg", "", "bytes=5-"},
		{"", "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}

	f.Fuzz(func(t *testing.T, path, query, rng string) {
		u := &url.URL{Path: path, RawQuery: query}
		r := httptest.NewRequest("GET", "http://storage/", nil)
		r.URL = u
		r.RequestURI = u.RequestURI()
		if rng != "" {
			r.Header["Range"] = []string{rng}
		}
		w := httptest.NewRecorder()
		s.http.ServeHTTP(w, r)
		switch w.Code {
		case 200, 204, 206, 400, 403, 404, 416, 502:
		default:
			t.Fatalf("%q ?%q: status %d", path, query, w.Code)
		}
		body := w.Body.Bytes()
		if bytes.Contains(body, []byte("SECRET")) {
			t.Fatalf("%q: sent a file outside the store path", path)
		}
		multipart := strings.HasPrefix(w.Header().Get("Content-Type"), "multipart/byteranges")
		if (w.Code == 200 || w.Code == 206) && !multipart && !bytes.Contains(data, body) {
			t.Fatalf("%q: 200 with bytes that are not the stored file's: %q", path, body)
		}
		if d := w.Header().Get("Content-Disposition"); strings.ContainsAny(d, "\r\n") {
			t.Fatalf("header injection: %q", d)
		}
	})
}
