// Package storetest starts real MariaDB, Redis and DFS (fdfs_trackerd +
// fdfs_storaged) processes on 127.0.0.1 for the cloud disk's tests and
// benchmarks, and stops them when the test (or the Runner) ends.
//
// Start each once per test binary (from TestMain with a Runner) and give
// every test its own database (MariaDB.NewDatabase) and Redis key prefix.
package storetest

import (
	"bytes"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
	"yunpan/internal/cluster"
)

// TB and Runner are the DFS harness's (internal/cluster): the part of
// testing.TB the harnesses use, and a TB for TestMain and programs.
type (
	TB     = cluster.TB
	Runner = cluster.Runner
)

// proc is one child process.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	out  *bytes.Buffer
	mu   sync.Mutex
}

func startProc(name string, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, out: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	w := &lockedWriter{p: p}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	// The child dies with the test binary even when it crashes or times out.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	return p, nil
}

type lockedWriter struct{ p *proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.out.Len() > 1<<20 {
		return len(b), nil
	}
	return w.p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits.
func (p *proc) kill() {
	if !p.exited() {
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// stop sends SIGTERM and waits up to d, then kills.
func (p *proc) stop(d time.Duration) {
	if !p.exited() {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(d):
		p.kill()
	}
}

// poll calls ok until it returns nil, the deadline passes or p exits.
func poll(p *proc, d time.Duration, ok func() error) error {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, last, p.output())
		}
		if last = ok(); last == nil {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %v", p.name, d, last)
}
