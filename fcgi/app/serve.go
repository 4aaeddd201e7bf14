package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
	"yunpan/fcgi/config"

	"github.com/rs/zerolog"

	"yunpan/internal/cpuprofile"
	"yunpan/store"
)

// startWait is how long a program waits for MySQL at start-up.
const startWait = 30 * time.Second

// gcPrograms run the DFS garbage collector (they are the ones that create
// DFS garbage).
var gcPrograms = map[string]bool{"upload": true, "dealfile": true}

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

func run(name string, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("YUNPAN_CFG")
	if def == "" {
		def = "conf/cfg.json"
	}
	cfgPath := fs.String("conf", def, "cfg.json path (env YUNPAN_CFG)")
	listen := fs.String("listen", "", "serve plain HTTP on this address instead of FastCGI")
	fcgiAddr := fs.String("fcgi", "", "serve FastCGI on this TCP address instead of fd 0")
	metricsAddr := fs.String("metrics", "", "serve Prometheus /metrics over HTTP on this address (metrics.go)")
	accessLog := fs.Bool("access-log", false, "log one event per request")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [-conf cfg.json] [-listen addr | -fcgi addr] [-metrics addr] [-access-log]\n", name)
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "environment overrides:")
		for _, e := range config.Env() {
			fmt.Fprintln(stderr, "  "+e)
		}
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := zerolog.New(stderr).With().Timestamp().Str("prog", name).Logger()
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		log.Error().Err(err).Msg("config")
		return 1
	}
	if lvl, err := zerolog.ParseLevel(cfg.LogLevel); err == nil && cfg.LogLevel != "" {
		log = log.Level(lvl)
	}
	if os.Getenv("GOGC") == "" {
		// A program's live heap is a few MiB, while every request allocates
		// (net/http/fcgi alone takes 64 KiB per request): collecting at 4x
		// the live heap instead of 2x halves the collector's share of the
		// CPU (a tenth of the upload program's, at 100%).
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// ... but not past this, where the collector works harder instead
		// (uploads held in memory can make the live heap tens of MiB).
		debug.SetMemoryLimit(256 << 20)
	}
	opt := Options{Log: log, Program: name, AccessLog: *accessLog}
	if gcPrograms[name] {
		opt.GCInterval = time.Minute
	}
	// MySQL may still be starting (the programs often start together
	// with it): wait for it a little instead of dying at once.
	deadline := time.Now().Add(startWait)
	var a *App
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		a, err = New(ctx, cfg, opt)
		cancel()
		if err == nil || !errors.Is(err, store.ErrUnavailable) || time.Now().After(deadline) {
			break
		}
		log.Warn().Err(err).Msg("waiting for mysql")
		time.Sleep(time.Second)
	}
	if err != nil {
		log.Error().Err(err).Msg("start")
		return 1
	}
	defer a.Close()
	h, err := a.Handler(name)
	if err != nil {
		log.Error().Err(err).Msg("start")
		return 2
	}
	if *metricsAddr != "" {
		stopMetrics, err := a.listenMetrics(*metricsAddr)
		if err != nil {
			log.Error().Err(err).Msg("start")
			return 1
		}
		defer stopMetrics()
	}
	defer cpuprofile.Start(name)()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)

	if *listen != "" {
		srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout: 2 * time.Minute, ErrorLog: nil}
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			log.Error().Err(err).Msg("listen")
			return 1
		}
		log.Info().Str("http", l.Addr().String()).Msg("serving")
		done := make(chan error, 1)
		go func() { done <- srv.Serve(l) }()
		select {
		case <-sig:
		case err := <-done:
			log.Error().Err(err).Msg("serve")
			return 1
		}
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
		log.Info().Msg("stopped")
		return 0
	}

	var l net.Listener
	if *fcgiAddr != "" {
		l, err = net.Listen("tcp", *fcgiAddr)
	} else {
		// spawn-fcgi hands us the listening socket as stdin.
		l, err = net.FileListener(os.Stdin)
	}
	if err != nil {
		log.Error().Err(err).Msg("fastcgi listener (run under spawn-fcgi, or use -listen/-fcgi)")
		return 1
	}
	log.Info().Str("fcgi", l.Addr().String()).Msg("serving")
	done := make(chan error, 1)
	go func() { done <- fcgi.Serve(bufferedListener{l}, h) }()
	select {
	case <-sig:
		l.Close()
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			log.Error().Err(err).Msg("serve")
			return 1
		}
	}
	if !a.Drain(30 * time.Second) {
		log.Warn().Msg("requests still running at exit")
	}
	log.Info().Msg("stopped")
	return 0
}
