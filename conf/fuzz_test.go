package conf

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary text to the ini reader and to every loader built
// on it; nothing may panic. The include directory holds a few files so that
// "#include" lines can succeed as well as fail.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"tracker.conf", "storage.conf", "client.conf", "storage_ids.conf"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"=",
		"[",
		"[]",
		"[x]\n[]\n[",
		"a=b=c\n#include\n#include \n#include\tinc.conf\n",
		"#include inc.conf\n[s]\n#include inc.conf\nk=v\n",
		"#include self.conf\n",
		"#include ../../../../../../../../nonexistent\n",
		"#include http://x\n",
		"#@function X\nk=v\n",
		"k = v # not a comment\r\nk=\xff\xfe\n",
		"tracker_server=[::1\ntracker_server=[::1]:\ntracker_server=a,b,c\n",
		"reserved_storage_space=NaN%\nbuff_size=9223372036854775807T\nport=-0\n",
		"base_path=/x\ngroup_name=g\ntracker_server=t\nstore_path_count=256\nstore_path255=/y\n",
		"base_path=/x\nuse_storage_id=1\nstorage_ids_filename=ids.conf\n",
		"sync_start_time=99:99\nslot_max_size=-1\nuse_trunk_file=1\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	for name, text := range map[string]string{
		"inc.conf":  "tracker_server = 127.0.0.1\n[inner]\nx = 1\n",
		"self.conf": "#include self.conf\n",
		"ids.conf":  "1 group1 127.0.0.1\n2 group1 [::1]:23001 rw=read\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			f.Fatal(err)
		}
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, dir)
		if err != nil {
			return
		}
		for _, sec := range append(file.Sections(), "") {
			s := file.Section(sec)
			for _, k := range s.Keys() {
				_ = s.String(k, "")
				_ = s.Strings(k)
				_ = s.Int(k, 0)
				_ = s.Int64(k, 0)
				_ = s.Bool(k, false)
				_ = s.Seconds(k, 0)
				_, _ = s.Bytes(k, 0)
				_, _ = ParseReserved(s.String(k, ""))
				_, _ = ParseHostPort(s.String(k, ""), DefaultTrackerPort)
			}
		}
		if tr, err := TrackerFromFile(file); err == nil || tr != nil {
			_ = tr.ParameterText()
			_ = tr.ResponseIPSize()
		}
		_, _ = StorageFromFile(file)
		_, _ = ClientFromFile(file)
		_, _ = ParseParameters(data)
		if ids, err := ParseStorageIDs(data); err == nil {
			for _, e := range ids {
				_ = e.Line()
			}
		}
	})
}
