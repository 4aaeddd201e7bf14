package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// Tools lists the binaries Build produces.
var Tools = []string{
	"fdfs_trackerd", "fdfs_storaged", "fdfs_upload_file", "fdfs_download_file",
	"fdfs_delete_file", "fdfs_file_info", "fdfs_monitor", "fdfs_crc32", "fdfs_bench", "fdfs_nginxconf",
	"fdfs_upload_appender", "fdfs_append_file", "fdfs_regenerate_filename", "fdfs_test", "fdfs_list_files",
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// Bin returns the folder holding the built tools: $YUNPAN_BIN when set (the
// Makefile builds once into ./bin), else a fresh `go build` into a temp dir,
// once per test binary.
func Bin(tb TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if d := os.Getenv("YUNPAN_BIN"); d != "" {
			binDir = d
			return
		}
		binDir, buildErr = os.MkdirTemp("", "yunpan-bin-")
		if buildErr != nil {
			return
		}
		root, err := repoRoot()
		if err != nil {
			buildErr = err
			return
		}
		var pkgs []string
		for _, t := range Tools {
			pkgs = append(pkgs, "./dfs/cmd/"+t)
		}
		cmd := exec.Command("go", append([]string{"build", "-o", binDir + "/"}, pkgs...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binDir
}

func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate source")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}
