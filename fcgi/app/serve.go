package app

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"yunpan/fcgi/config"
	"yunpan/internal/cpuprofile"
	"yunpan/store"
)

// startWait is how long a program waits for MySQL at start-up.
const startWait = 30 * time.Second

// drainWait is how long a stopping program lets running requests finish.
const drainWait = 30 * time.Second

// gcPrograms run the DFS garbage collector (they are the ones that create
// DFS garbage).
var gcPrograms = map[string]bool{"upload": true, "dealfile": true}

// uploadTokenAge is how long the upload program trusts a token it accepted
// without asking Redis again: a client uploading a folder sends many files
// with one token, and the Redis round trip was a tenth of the program's
// CPU per 4 KiB upload. A logout (in the login program) stops uploads
// within this age. The other programs answer right after a logout and ask
// every time.
const uploadTokenAge = 400 * time.Millisecond

// uploadQuotaAge is how long the upload program reuses a user's usage for
// the quota check before an upload's bytes are stored (the query was a
// round trip per upload); the recording checks the quota atomically, and
// a refusal is always confirmed by MySQL.
const uploadQuotaAge = time.Second

// Main is the whole main of a FastCGI program:
//
//	<name> [-conf cfg.json] [-listen 127.0.0.1:port | -fcgi 127.0.0.1:port]
//
// By default it serves FastCGI on the socket spawn-fcgi passes as fd 0.
// -listen serves plain HTTP instead (tests without spawn-fcgi), -fcgi
// FastCGI on a TCP address. The config path also comes from $YUNPAN_CFG.
// SIGTERM/SIGINT stop accepting, let running requests finish (30 s at
// most) and exit 0.
func Main(name string) {
	os.Exit(run(name, os.Args[1:], os.Stderr))
}

// run is Main with its exit status: 2 for a bad command line, 1 when the
// program cannot start or serve.
func run(name string, args []string, stderr io.Writer) int {
	opts, err := parseFlags(name, args, stderr)
	if err != nil {
		return 2
	}
	log := zerolog.New(stderr).With().Timestamp().Str("prog", name).Logger()
	p, err := newProgram(opts, log)
	if err != nil {
		log.Error().Err(err).Msg("start")
		return 1
	}
	defer p.Exit()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := p.Main(ctx); err != nil {
		p.log.Error().Err(err).Msg("serve")
		return 1
	}
	p.log.Info().Msg("stopped")
	return 0
}

// serveOptions are a program's command line.
type serveOptions struct {
	Name      string // the program: one of Endpoints
	Conf      string // cfg.json path
	Listen    string // plain HTTP on this address instead of FastCGI
	FCGI      string // FastCGI on this TCP address instead of fd 0
	Metrics   string // /metrics on this address; "" = none
	AccessLog bool   // every request's line whatever log_level says
}

// newServeOptions are the defaults: the config at $YUNPAN_CFG, else
// conf/cfg.json; FastCGI on fd 0; no metrics, no access log.
// defaultConf is the cfg.json path when -conf is not given: $YUNPAN_CFG,
// else conf/cfg.json.
func defaultConf() string {
	if p := os.Getenv("YUNPAN_CFG"); p != "" {
		return p
	}
	return "conf/cfg.json"
}

func newServeOptions(name string) *serveOptions {
	o := &serveOptions{Name: name, Conf: defaultConf()}
	return o
}

// parseFlags reads the command line; errors are written to stderr.
func parseFlags(name string, args []string, stderr io.Writer) (*serveOptions, error) {
	o := newServeOptions(name)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Conf, "conf", o.Conf, "cfg.json path (env YUNPAN_CFG)")
	fs.StringVar(&o.Listen, "listen", "", "serve plain HTTP on this address instead of FastCGI")
	fs.StringVar(&o.FCGI, "fcgi", "", "serve FastCGI on this TCP address instead of fd 0")
	fs.StringVar(&o.Metrics, "metrics", "", "serve Prometheus /metrics over HTTP on this address")
	fs.BoolVar(&o.AccessLog, "access-log", false, "log one event per request")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [-conf cfg.json] [-listen addr | -fcgi addr] [-metrics addr] [-access-log]\n", name)
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "environment overrides:")
		for _, e := range config.Env() {
			fmt.Fprintln(stderr, "  "+e)
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if !slices.Contains(Endpoints, name) {
		err := fmt.Errorf("unknown program %q", name)
		fmt.Fprintln(stderr, err)
		return nil, err
	}
	return o, nil
}

// program is one running FastCGI program: its App, the handler of its
// endpoint, its listener and what runs beside them.
type program struct {
	opts        *serveOptions
	log         zerolog.Logger
	app         *App
	handler     http.Handler
	ln          net.Listener
	stopMetrics func()
	stopProfile func()
}

// newProgram loads the config, opens the App (waiting for MySQL) and binds
// the listeners; Main then serves.
func newProgram(o *serveOptions, log zerolog.Logger) (*program, error) {
	cfg, err := config.Load(o.Conf)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if lvl, err := zerolog.ParseLevel(cfg.LogLevel); err == nil && cfg.LogLevel != "" {
		log = log.Level(lvl)
	}
	tuneGC()
	opt := Options{Log: log, Program: o.Name, AccessLog: o.AccessLog}
	if gcPrograms[o.Name] {
		opt.GCInterval = time.Minute
	}
	if o.Name == "upload" {
		opt.TokenCacheAge = uploadTokenAge
		opt.QuotaCacheAge = uploadQuotaAge
	}
	a, err := openApp(cfg, opt)
	if err != nil {
		return nil, err
	}
	p := &program{opts: o, log: log, app: a, stopMetrics: func() {}, stopProfile: func() {}}
	if p.handler, err = a.Handler(o.Name); err != nil {
		p.Exit()
		return nil, err
	}
	if o.Metrics != "" {
		stop, err := a.listenMetrics(o.Metrics)
		if err != nil {
			p.Exit()
			return nil, err
		}
		p.stopMetrics = stop
	}
	if p.ln, err = o.listen(); err != nil {
		p.Exit()
		return nil, err
	}
	p.stopProfile = cpuprofile.Start(o.Name)
	return p, nil
}

// tuneGC sets the collector for the programs' heaps unless the
// environment does.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		// A program's live heap is a few MiB, while every request allocates
		// (net/http/fcgi alone took 64 KiB per request): collecting at 4x
		// the live heap instead of 2x halves the collector's share of the
		// CPU (a tenth of the upload program's, at 100%).
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// ... but not past this, where the collector works harder instead
		// (uploads held in memory can make the live heap tens of MiB).
		debug.SetMemoryLimit(256 << 20)
	}
}

// openApp builds the App. MySQL may still be starting (the programs often
// start together with it): it waits up to startWait instead of failing at
// once.
func openApp(cfg *config.Config, opt Options) (*App, error) {
	deadline := time.Now().Add(startWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		a, err := New(ctx, cfg, opt)
		cancel()
		if err == nil || !errors.Is(err, store.ErrUnavailable) || time.Now().After(deadline) {
			return a, err
		}
		opt.Log.Warn().Err(err).Msg("waiting for mysql")
		time.Sleep(time.Second)
	}
}

// listen binds -listen or -fcgi, else takes the socket spawn-fcgi hands
// over as stdin.
func (o *serveOptions) listen() (net.Listener, error) {
	if a := cmp.Or(o.Listen, o.FCGI); a != "" {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		return l, nil
	}
	l, err := net.FileListener(os.Stdin)
	if err != nil {
		return nil, fmt.Errorf("fastcgi listener on fd 0 (run under spawn-fcgi, or use -listen/-fcgi): %w", err)
	}
	return l, nil
}

// Main serves until ctx ends, then lets the running requests finish.
func (p *program) Main(ctx context.Context) error {
	if p.opts.Listen != "" {
		p.log.Info().Str("http", p.ln.Addr().String()).Msg("serving")
		return serveHTTP(ctx, p.ln, p.handler)
	}
	p.log.Info().Str("fcgi", p.ln.Addr().String()).Msg("serving")
	err := serveFCGI(ctx, p.ln, p.handler)
	if !p.app.Drain(drainWait) {
		p.log.Warn().Msg("requests still running at exit")
	}
	return err
}

// Exit stops what newProgram started.
func (p *program) Exit() {
	p.stopProfile()
	p.stopMetrics()
	if p.ln != nil {
		p.ln.Close()
	}
	p.app.Close()
}

// serveHTTP serves plain HTTP on l until ctx ends, then shuts down,
// waiting for running requests.
func serveHTTP(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), drainWait)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}

// serveFCGI serves FastCGI on l until ctx ends or l is closed
// (fcgiconn.go). It has no shutdown of its own: the caller drains the
// running requests (App.Drain).
func serveFCGI(ctx context.Context, l net.Listener, h http.Handler) error {
	done := make(chan error, 1)
	go func() { done <- serveFastCGI(l, h) }()
	select {
	case <-ctx.Done():
		l.Close()
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			return err
		}
	}
	return nil
}
