package cluster

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// ProcessCheck checks a process that is not one of the harness's daemons
// (the FastCGI programs of fcgi/e2e) the way leak.go checks the daemons:
// descriptors from /proc/<pid>/fd, goroutines from yunpan_goroutines on its
// /metrics. Connections to the Pooled addresses are kept on purpose by the
// program's pools (MySQL, Redis, DFS): they are not compared with the
// baseline but bounded by the pool's size, and each may account for
// GoroutinesPerConn goroutines (go-sql-driver runs one per connection).
type ProcessCheck struct {
	Name    string
	Pid     int
	Metrics string              // host:port of /metrics; "" checks descriptors only
	Pooled  map[string]PoolSpec // remote "ip:port" → its pool
	base    *extUsage
	last    string // counts of the last passing Check
}

// PoolSpec bounds the connections a program keeps to one backend.
type PoolSpec struct {
	Name              string
	Max               int
	GoroutinesPerConn int
}

type extUsage struct {
	own        []fdDesc
	pooled     map[string]int
	poolGor    int // goroutines the pooled connections account for
	goroutines int
	scrapeErr  error
}

func (u extUsage) ownGoroutines() int { return u.goroutines - u.poolGor }

// Baseline records the process's usage once it has settled: its
// /metrics answers (the program has started) and the counts stayed the
// same over a few samples (a start-up or readiness-probe goroutine or
// descriptor is gone).
func (c *ProcessCheck) Baseline() error {
	deadline := time.Now().Add(15 * time.Second)
	var last *extUsage
	same := 0
	for same < 3 {
		u, err := c.measure()
		if err != nil {
			return err
		}
		if u.goroutines < 0 && c.Metrics != "" {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: goroutines: %v", c.Name, u.scrapeErr)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if last != nil && len(u.own) == len(last.own) && u.ownGoroutines() == last.ownGoroutines() {
			same++
		} else {
			same = 0
		}
		last = &u
		if time.Now().After(deadline) {
			break // never steady: keep the last
		}
		time.Sleep(30 * time.Millisecond)
	}
	c.base = last
	return nil
}

func (c *ProcessCheck) measure() (extUsage, error) {
	u := extUsage{pooled: map[string]int{}, goroutines: -1}
	fds, err := listFDs(c.Pid)
	if err != nil {
		return u, err
	}
	tcp := readTCP()
	byEnds := map[[2]netip.AddrPort]uint64{}
	for ino, s := range tcp {
		byEnds[[2]netip.AddrPort{s.local, s.remote}] = ino
	}
	for _, f := range fds {
		s, ok := tcp[f.inode]
		if !ok || s.state == "LISTEN" {
			u.own = append(u.own, fdDesc{f.num, f.target})
			continue
		}
		if p, ok := c.Pooled[s.remote.String()]; ok {
			u.pooled[s.remote.String()]++
			u.poolGor += p.GoroutinesPerConn
			continue
		}
		who := "no process (closed by the other side)"
		if ino, ok := byEnds[[2]netip.AddrPort{s.remote, s.local}]; ok {
			if who = peerOwner(ino); who == "" {
				who = "another process"
			}
		}
		u.own = append(u.own, fdDesc{f.num, fmt.Sprintf("%s %s %s <-> %s (other end: %s)", f.target, s.state, s.local, s.remote, who)})
	}
	if c.Metrics != "" {
		u.goroutines, _, u.scrapeErr = scrapeGoroutines(c.Metrics)
	}
	return u, nil
}

func (c *ProcessCheck) problems(u extUsage) []string {
	b := c.base
	var out []string
	if len(u.own) > len(b.own) {
		out = append(out, fmt.Sprintf("%d descriptors, baseline %d (pooled backend connections not counted)", len(u.own), len(b.own)))
	}
	for addr, n := range u.pooled {
		if p := c.Pooled[addr]; n > p.Max {
			out = append(out, fmt.Sprintf("%d connections to %s %s, its pool keeps at most %d", n, p.Name, addr, p.Max))
		}
	}
	if c.Metrics != "" {
		switch {
		case u.goroutines < 0:
			out = append(out, fmt.Sprintf("goroutines unknown: %v", u.scrapeErr))
		case u.ownGoroutines() > b.ownGoroutines():
			out = append(out, fmt.Sprintf("%d goroutines besides %d of pooled connections (%d in all), baseline %d (%d in all)",
				u.ownGoroutines(), u.poolGor, u.goroutines, b.ownGoroutines(), b.goroutines))
		}
	}
	return out
}

// Check polls for wait until the process is within its baseline. It
// returns "" then, else a report listing the descriptors not in the
// baseline; goroutines is true when goroutines are over (the caller may
// end the process with SIGQUIT and add CompactGoroutineDump of its output).
func (c *ProcessCheck) Check(wait time.Duration) (report string, goroutines bool) {
	if c.base == nil {
		return "", false
	}
	deadline := time.Now().Add(wait)
	for {
		u, err := c.measure()
		if err != nil {
			return "", false // exited: not ours to judge here
		}
		pr := c.problems(u)
		if len(pr) == 0 {
			pooled := 0
			for _, n := range u.pooled {
				pooled += n
			}
			c.last = fmt.Sprintf("descriptors %d (baseline %d), goroutines %d (baseline %d), pooled connections %d",
				len(u.own), len(c.base.own), u.ownGoroutines(), c.base.ownGoroutines(), pooled)
			return "", false
		}
		if time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "--- %s (pid %d) not back at its baseline after %v: %s", c.Name, c.Pid, wait, strings.Join(pr, "; "))
		before := map[string]int{}
		for _, d := range c.base.own {
			before[d.text]++
		}
		var added []string
		for _, d := range u.own {
			if before[d.text] > 0 {
				before[d.text]--
				continue
			}
			added = append(added, fmt.Sprintf("    fd %d -> %s", d.num, d.text))
		}
		if len(added) > 0 {
			fmt.Fprintf(&b, "\n  descriptors not in the baseline:\n%s", strings.Join(added, "\n"))
		}
		var pools []string
		for addr, n := range u.pooled {
			pools = append(pools, fmt.Sprintf("%s %s ×%d", c.Pooled[addr].Name, addr, n))
		}
		sort.Strings(pools)
		if len(pools) > 0 {
			fmt.Fprintf(&b, "\n  pooled (not counted): %s", strings.Join(pools, ", "))
		}
		return b.String(), c.Metrics != "" && u.goroutines >= 0 && u.ownGoroutines() > c.base.ownGoroutines()
	}
}

// Summary is one line with the counts of the last passing Check, for logs.
func (c *ProcessCheck) Summary() string {
	if c.last == "" {
		return c.Name + ": not checked"
	}
	return c.Name + ": " + c.last
}

// CompactGoroutineDump shortens a Go runtime goroutine dump (SIGQUIT
// output from its "SIGQUIT" line on): the runtime's own goroutines and
// frames are left out, identical stacks are printed once with a count.
func CompactGoroutineDump(out string) string {
	i := strings.Index(out, "SIGQUIT")
	if i < 0 {
		return "(no goroutine dump)"
	}
	return compactDump(out[i:])
}
