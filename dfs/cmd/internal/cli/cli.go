// Package cli holds the code shared by the fdfs_* client tools: config
// loading, the error lines and errno mapping of the FastDFS tools (§9),
// local-time and human-size formatting. Each tool is a Run function here
// taking its arguments and output streams and returning the exit code, so
// the mains are one line and the tools can be tested in process too.
// Section numbers (§) refer to docs/protocol.md.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/proto"
)

// Errno is the errno a tool prints and exits with for err: the status a
// server sent, a system errno, ETIMEDOUT for timeouts, else EIO.
func Errno(err error) int {
	if err == nil {
		return 0
	}
	var se proto.StatusError
	if errors.As(err, &se) {
		return int(se)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return int(syscall.ETIMEDOUT)
	}
	return int(proto.StatusOf(err))
}

// FailLine is "<what> fail, error no: <n>, error info: <strerror>".
func FailLine(what string, err error) string {
	n := Errno(err)
	return fmt.Sprintf("%s fail, error no: %d, error info: %s", what, n, proto.StrError(byte(n)))
}

// FormatTime formats Unix seconds as "%Y-%m-%d %H:%M:%S" in local time.
func FormatTime(ts int64) string {
	return time.Unix(ts, 0).In(time.Local).Format("2006-01-02 15:04:05")
}

// HumanMB formats a size given in MB the way fdfs_monitor does: 1024-based
// units, one decimal below 10 units, whole numbers from 10 up ("252 GB",
// "5.3 GB", "512 MB").
func HumanMB(mb int64) string {
	units := [...]string{"MB", "GB", "TB", "PB", "EB"}
	v, i := float64(mb), 0
	for (v >= 1024 || v <= -1024) && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v < 10 && v > -10 {
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
	return fmt.Sprintf("%.0f %s", v, units[i])
}

// Open loads client.conf and builds a client. On failure it prints the
// reason to stderr and returns the exit code to use.
func Open(path string, stderr io.Writer) (*client.Client, int) {
	cfg, err := conf.LoadClient(path)
	if err != nil {
		n := Errno(err)
		if n == int(proto.StatusEIO) && !errors.Is(err, syscall.EIO) {
			n = int(proto.StatusEINVAL) // a config the parser refused
		}
		fmt.Fprintf(stderr, "load conf file \"%s\" fail, error no: %d, error info: %s (%v)\n",
			path, n, proto.StrError(byte(n)), err)
		return nil, n
	}
	c, err := client.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, FailLine("fdfs_client_init", err))
		return nil, Errno(err)
	}
	return c, 0
}

// Run is the frame the tools share: the usage line on stdout (exit 1) with
// fewer than min arguments, the client from the config in args[0], and a
// context cancelled by SIGINT/SIGTERM around body.
func Run(args []string, min int, usage string, stdout, stderr io.Writer, body func(ctx context.Context, c *client.Client) int) int {
	return runTool(args, min, usage, stdout, stderr, Context, body)
}

// RunUncaught is Run without catching SIGINT/SIGTERM: a signal ends the
// process at once, as it would a C tool. For runs with nothing to clean
// up: catching signals starts the Go runtime's signal thread, which cost
// an upload of a small file a fifth of its CPU and 20 to 30 context
// switches (perf stat), paid by every upload the course's FastCGI program
// runs the tool for.
func RunUncaught(args []string, min int, usage string, stdout, stderr io.Writer, body func(ctx context.Context, c *client.Client) int) int {
	return runTool(args, min, usage, stdout, stderr, func() (context.Context, context.CancelFunc) {
		return context.WithCancel(context.Background())
	}, body)
}

func runTool(args []string, min int, usage string, stdout, stderr io.Writer, newCtx func() (context.Context, context.CancelFunc), body func(ctx context.Context, c *client.Client) int) int {
	if len(args) < min {
		fmt.Fprint(stdout, usage)
		return 1
	}
	c, code := Open(args[0], stderr)
	if c == nil {
		return code
	}
	defer c.Close()
	ctx, cancel := newCtx()
	defer cancel()
	return body(ctx, c)
}

// Context is the context of one tool run: cancelled by SIGINT/SIGTERM.
// Network waits are bounded by network_timeout inside the client.
func Context() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
