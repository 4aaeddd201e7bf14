package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"

	"golang.org/x/term"
)

// ResumableEnv names the environment variable that makes fdfs_upload_file
// upload big files with client.UploadResumable. Its value is "1" (defaults)
// or a comma list of min=<size> (smallest file to upload that way, default
// 64M), part=<size>, parallel=<n>, rate=<size per second> and
// state=<directory>; sizes take K/M/G/T. Unset, "" or "0": off.
const ResumableEnv = "FDFS_RESUMABLE"

// ProgressMin is the size from which fdfs_upload_file draws a progress bar
// on a terminal.
const ProgressMin = 64 << 20

// resumableConfig is the parsed ResumableEnv.
type resumableConfig struct {
	on   bool
	min  int64
	opts client.ResumableOptions
}

func parseResumableEnv(v string) (resumableConfig, error) {
	rc := resumableConfig{min: ProgressMin}
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "", "0", "false", "no", "off":
		return rc, nil
	case "1", "true", "yes", "on":
		rc.on = true
		return rc, nil
	}
	rc.on = true
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return rc, fmt.Errorf("%s: %q is not key=value", ResumableEnv, kv)
		}
		var err error
		switch k {
		case "min":
			rc.min, err = conf.ParseBytes(val)
		case "part":
			rc.opts.PartSize, err = conf.ParseBytes(val)
		case "rate":
			rc.opts.RateLimit, err = conf.ParseBytes(val)
		case "parallel":
			rc.opts.Parallel, err = strconv.Atoi(val)
		case "state":
			rc.opts.StateDir = val
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return rc, fmt.Errorf("%s: %v", ResumableEnv, err)
		}
	}
	return rc, nil
}

// UploadMain is fdfs_upload_file. By default it is exactly Upload (one line
// on stdout). Two additions never change that line: a progress bar on
// stderr when stderr is a terminal and the file has at least ProgressMin
// bytes, and, when ResumableEnv asks for it, the resumable upload for files
// of at least its min size.
func UploadMain(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		return Upload(args, stdout, stderr)
	}
	rc, err := parseResumableEnv(os.Getenv(ResumableEnv))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return int(proto.StatusEINVAL)
	}
	var size int64 = -1
	if fi, err := os.Stat(args[1]); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	resumable := rc.on && size >= rc.min
	bar := isTerminal(stderr) && size >= ProgressMin
	if !resumable && !bar {
		return Upload(args, stdout, stderr)
	}

	return Run(args, 2, UploadUsage, stdout, stderr, func(ctx context.Context, c *client.Client) int {
		return bigUpload(ctx, c, args, rc, resumable, bar, stdout, stderr)
	})
}

// bigUpload uploads with a progress bar and/or resumably.
func bigUpload(ctx context.Context, c *client.Client, args []string, rc resumableConfig, resumable, bar bool, stdout, stderr io.Writer) int {
	local := args[1]
	addr, pathIndex, code := storageArg(args, stderr)
	if code != 0 {
		return code
	}
	var pb *progressBar
	if bar {
		pb = newProgressBar(stderr)
	}
	var id string
	var err error
	if resumable {
		o := rc.opts
		o.Storage, o.PathIndex = addr, pathIndex
		if pb != nil {
			o.Progress = pb.update
		}
		id, err = c.UploadResumable(ctx, local, "", o)
	} else {
		if addr, pathIndex, code = storeTarget(ctx, c, addr, pathIndex, stderr); code != 0 {
			return code
		}
		id, err = uploadWithBar(ctx, c, addr, pathIndex, local, pb)
	}
	if pb != nil {
		pb.finish()
	}
	if err != nil {
		fmt.Fprintln(stderr, FailLine("upload file", err))
		return Errno(err)
	}
	fmt.Fprintln(stdout, id)
	return 0
}

func uploadWithBar(ctx context.Context, c *client.Client, addr string, pathIndex int, local string, pb *progressBar) (string, error) {
	f, size, err := client.OpenLocal(local)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var r io.Reader = f
	if pb != nil {
		r = &countingReader{r: f, total: size, fn: pb.update}
	}
	return c.UploadTo(ctx, addr, pathIndex, r, size, extOf(local))
}

// extOf is the extension the C tools send for a local file (§6.4).
func extOf(local string) string { return fileid.ExtFromFilename(local) }

// isTerminal reports whether w is a terminal. Being a character device is
// not enough: /dev/null is one, and a progress bar there is only noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// countingReader reports the bytes read so far.
type countingReader struct {
	r     io.Reader
	n     int64
	total int64
	fn    func(done, total int64)
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	c.fn(c.n, c.total)
	return n, err
}

// progressBar draws "[=====>    ]  42.0%  107.5/256.0 MiB  95.1 MiB/s" on
// one terminal line, at most ten times a second.
type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  time.Time
	drawn bool
	base  int64 // first value seen: what an earlier run already sent
	done  int64
	total int64
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w, start: time.Now()} }

func (p *progressBar) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.drawn && p.last.IsZero() {
		p.base = done
	}
	p.done, p.total = done, total
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || done == total {
		p.last = now
		p.draw()
	}
}

func (p *progressBar) draw() {
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = float64(p.done) / float64(p.total)
	}
	fill := int(frac * width)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	rate := float64(p.done-p.base) / max(time.Since(p.start).Seconds(), 1e-3) / (1 << 20)
	fmt.Fprintf(p.w, "\r[%s] %5.1f%%  %.1f/%.1f MiB  %.1f MiB/s ", bar, frac*100,
		float64(p.done)/(1<<20), float64(p.total)/(1<<20), rate)
	p.drawn = true
}

// finish ends the bar's line.
func (p *progressBar) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		p.draw()
		fmt.Fprintln(p.w)
	}
}
