package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
)

// programs are the packages Bin builds: every program of the repository,
// as `make build` builds them into ./bin.
var programs = []string{"./dfs/cmd/...", "./fcgi/...", "./nginx/nginxconf"}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// Bin returns the folder holding the repository's programs (the DFS
// daemons and tools, the FastCGI programs, nginxconf): $YUNPAN_BIN when
// set (`make test` builds them once into ./bin), else a folder of this
// checkout under the user's cache dir, brought up to date by `go build`
// once per test binary. The test binaries of several packages share that
// folder: a lock serialises their builds, and go build leaves a program
// that is up to date as it is, so only the first one builds.
func Bin(tb TB) string {
	tb.Helper()
	binOnce.Do(func() {
		if d := os.Getenv("YUNPAN_BIN"); d != "" {
			binDir = d
			return
		}
		binDir, binErr = build()
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binDir
}

func build() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(cache, "yunpan-test-bin", hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("test binaries: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("test binaries: %w", err)
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, programs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as make build: nothing needs cgo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %v: %w\n%s", programs, err, out)
	}
	return dir, nil
}

// repoRoot is the checkout this package's source is in.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate source")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}
