package e2e

import (
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"yunpan/dfs/client"
	"yunpan/internal/cluster"
)

// Leak check of the FastCGI programs: each program
// serves /metrics on its own port (-metrics); once it accepts, its
// descriptors and goroutines are the baseline, and when the test ends,
// after Nginx has stopped and before the programs stop, they must be back
// at it (internal/cluster/external.go). Connections to MySQL, Redis and the
// DFS are pooled by design: bounded by the pools' sizes rather than
// compared, and each MySQL connection has its driver goroutine.

// programLeakWait is how long the programs get to wind down.
const programLeakWait = 10 * time.Second

// metricsArgs gives a program a /metrics listener; the address is kept.
func metricsArgs(tb testing.TB, s *Stack, name string) []string {
	if s.metrics == nil {
		s.metrics = map[string]string{}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(tb, "127.0.0.1")))
	s.metrics[name] = addr
	return []string{"-metrics", addr}
}

// baselinePrograms records every program's usage once they all accept.
func baselinePrograms(tb testing.TB, s *Stack, in *shared) {
	tb.Helper()
	pooled := map[string]cluster.PoolSpec{
		net.JoinHostPort("127.0.0.1", strconv.Itoa(in.db.Port)):    {Name: "mysql", Max: 16, GoroutinesPerConn: 1},
		net.JoinHostPort("127.0.0.1", strconv.Itoa(in.redis.Port)): {Name: "redis", Max: 32},
		in.dfs.Tracker: {Name: "dfs tracker", Max: client.DefaultMaxIdle},
		in.dfs.Storage: {Name: "dfs storage", Max: client.DefaultMaxIdle},
	}
	for name, p := range s.fcgi {
		c := &cluster.ProcessCheck{Name: name, Pid: p.cmd.Process.Pid, Metrics: s.metrics[name], Pooled: pooled}
		if err := c.Baseline(); err != nil {
			tb.Fatalf("baseline of %s: %v\n%s", name, err, p.output())
		}
		s.checks = append(s.checks, c)
	}
}

// checkPrograms runs the check (not after a failure: a failing test may
// leave requests half done) and dumps the goroutines of a program that has
// too many.
func checkPrograms(tb testing.TB, s *Stack) {
	if tb.Failed() {
		return
	}
	var ok []string
	for _, c := range s.checks {
		report, gor := c.Check(programLeakWait)
		if report == "" {
			ok = append(ok, c.Summary())
			continue
		}
		if p := s.fcgi[c.Name]; gor && p != nil {
			p.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
			}
			report += "\n  goroutines (SIGQUIT dump):\n" + cluster.CompactGoroutineDump(p.output())
		}
		tb.Errorf("%s", report)
	}
	if len(ok) > 0 {
		tb.Logf("FastCGI programs back at their baseline (own goroutines and descriptors):\n%s", strings.Join(ok, "\n"))
	}
}
