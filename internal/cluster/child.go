package cluster

import (
	"bytes"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// child is one process the harness started (a DFS daemon, mariadbd,
// redis-server). It dies with the test binary, even when that crashes or
// times out; its output is kept for failure messages.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	out  *syncBuffer
}

func startChild(name, bin string, args ...string) (*child, error) {
	c := &child{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{}), out: &syncBuffer{}}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *child) signal(sig syscall.Signal) {
	if !c.exited() {
		c.cmd.Process.Signal(sig)
	}
}

// kill ends the process with SIGKILL (a crash) and waits for it.
func (c *child) kill() {
	c.signal(syscall.SIGKILL)
	<-c.done
}

// stop sends SIGTERM and waits up to d, then kills.
func (c *child) stop(d time.Duration) {
	c.signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(d):
		c.kill()
	}
}

// output is what the process wrote on stdout and stderr (the last MiB).
func (c *child) output() string { return c.out.String() }

// poll calls ready until it returns nil, d passes or c exits.
func poll(c *child, d time.Duration, ready func() error) error {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		if c.exited() {
			return fmt.Errorf("%s exited: %v\n%s", c.name, last, c.output())
		}
		if last = ready(); last == nil {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %v", c.name, d, last)
}

// maxOutput bounds what a syncBuffer keeps. The end is kept: a crash or a
// goroutine dump (leak.go) is the last thing a process writes.
const maxOutput = 1 << 20

// syncBuffer collects a process's output; exec copies into it from its
// own goroutine while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	if over := s.b.Len() - maxOutput; over > 0 {
		s.b.Next(over)
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
