// Package daemon is the shared start/stop frame of fdfs_trackerd and
// fdfs_storaged: `<conf> [start|stop|restart]`, a pid file in base_path, a
// zerolog log in base_path/logs, and a clean exit on SIGTERM/SIGINT.
//
// The daemon stays in the foreground (no fork); `make run` and the tests
// start it in the background themselves, and `stop` works from any shell
// through the pid file.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"yunpan/internal/cpuprofile"
)

// Server is what a daemon runs: Main blocks until Exit is called or it fails.
type Server interface {
	Main() error
	Exit()
}

// Spec describes one daemon binary.
type Spec struct {
	Name string // "trackerd" or "storaged": names the pid and log files
	// Load reads the config and returns its base_path and log level.
	Load func(confPath string) (basePath, logLevel string, err error)
	// New builds the server (binding its listener) with the given logger.
	New func(confPath string, log zerolog.Logger) (Server, error)
}

// Main runs the daemon command line and returns the exit code.
func Main(spec Spec, args []string, stderr io.Writer) int {
	if len(args) < 1 || len(args) > 2 {
		fmt.Fprintf(stderr, "Usage: %s <config_file> [start | stop | restart]\n", "fdfs_"+spec.Name)
		return 1
	}
	action := "start"
	if len(args) == 2 {
		action = args[1]
	}
	basePath, level, err := spec.Load(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "load config %s: %v\n", args[0], err)
		return 1
	}
	pidFile := filepath.Join(basePath, "data", "fdfs_"+spec.Name+".pid")
	switch action {
	case "stop":
		if err := Stop(pidFile, 30*time.Second); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	case "restart":
		if err := Stop(pidFile, 30*time.Second); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(stderr, err)
			return 1
		}
	case "start":
	default:
		fmt.Fprintf(stderr, "invalid action %q: use start, stop or restart\n", action)
		return 1
	}
	if pid, err := readPid(pidFile); err == nil && alive(pid) {
		fmt.Fprintf(stderr, "fdfs_%s already running, pid %d (%s)\n", spec.Name, pid, pidFile)
		return 1
	}
	log, closeLog, err := OpenLog(basePath, spec.Name, level)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer closeLog()
	srv, err := spec.New(args[0], log)
	if err != nil {
		log.Error().Err(err).Msg("start failed")
		fmt.Fprintf(stderr, "fdfs_%s: %v\n", spec.Name, err)
		return 1
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		fmt.Fprintf(stderr, "write pid file: %v\n", err)
		srv.Exit()
		return 1
	}
	defer os.Remove(pidFile)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		log.Info().Msg("signal received, exiting")
		srv.Exit()
	}()
	defer cpuprofile.Start(spec.Name)()
	log.Info().Int("pid", os.Getpid()).Msg("started")
	if err := srv.Main(); err != nil {
		log.Error().Err(err).Msg("exited with error")
		fmt.Fprintf(stderr, "fdfs_%s: %v\n", spec.Name, err)
		return 1
	}
	log.Info().Msg("stopped")
	return 0
}

// OpenLog opens base_path/logs/<name>.log as a zerolog logger at level.
func OpenLog(basePath, name, level string) (zerolog.Logger, func(), error) {
	dir := filepath.Join(basePath, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return zerolog.Nop(), nil, fmt.Errorf("log dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(basePath, "data"), 0o755); err != nil {
		return zerolog.Nop(), nil, fmt.Errorf("data dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return zerolog.Nop(), nil, fmt.Errorf("log file: %w", err)
	}
	lvl := LogLevel(level)
	return zerolog.New(f).Level(lvl).With().Timestamp().Str("svc", name).Logger(), func() { f.Close() }, nil
}

// Stop sends SIGTERM to the pid in pidFile and waits for it to exit.
func Stop(pidFile string, wait time.Duration) error {
	pid, err := readPid(pidFile)
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			os.Remove(pidFile)
			return nil
		}
		return fmt.Errorf("stop pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("stop: pid %d still running after %s", pid, wait)
}

func readPid(pidFile string) (int, error) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad pid file %s", pidFile)
	}
	return pid, nil
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie child of ours still answers kill(0); treat it as gone.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return false
		}
	}
	return true
}

// LogLevel maps FastDFS's syslog-style log_level names to zerolog levels.
func LogLevel(level string) zerolog.Level {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "emerg", "alert", "crit", "error", "err":
		return zerolog.ErrorLevel
	case "warn", "warning":
		return zerolog.WarnLevel
	case "debug":
		return zerolog.DebugLevel
	}
	return zerolog.InfoLevel
}
