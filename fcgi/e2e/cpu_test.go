package e2e

import (
	"crypto/md5"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"yunpan/nginx"
)

// Where the CPU of a benchmark goes, by role, read from /proc: the
// benchmark's share of a 2-core machine is what decides the web-to-raw
// ratio, so `make bench` shows it rather than leaving it to a profiler.

// cpuRoles maps a process's command name to the role it plays.
var cpuRoles = map[string]string{
	"fdfs_storaged":    "dfs",
	"fdfs_trackerd":    "dfs",
	"nginx":            "nginx",
	"mariadbd":         "db",
	"mysqld":           "db",
	"redis-server":     "redis",
	"fdfs_upload_file": "app", // exec mode's children (also in the parent's cutime once reaped)
}

// cpuSample is the CPU seconds used so far by each live process.
type cpuSample map[int]procCPU

type procCPU struct {
	role string
	sec  float64 // utime+stime, plus cutime+cstime (reaped children)
}

const clockTick = 100.0 // USER_HZ; 100 on every Linux we run on

// procStat reads /proc/<pid>/stat: the command name and the fields after
// it (state, ppid, …; field i here is field i+3 of proc(5)). The name may
// hold spaces and parentheses, so it ends at the last ')'.
func procStat(pid string) (comm string, fields []string, ok bool) {
	raw, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return "", nil, false
	}
	line := string(raw)
	open, close := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || close < open {
		return "", nil, false
	}
	return line[open+1 : close], strings.Fields(line[close+1:]), true
}

// sampleCPU reads the CPU time of every process, with its role.
func sampleCPU() cpuSample {
	self := os.Getpid()
	appNames := appProgramNames()
	s := cpuSample{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, f, ok := procStat(e.Name())
		if !ok || len(f) < 15 {
			continue
		}
		var sec float64
		for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			v, _ := strconv.ParseFloat(f[i], 64)
			sec += v / clockTick
		}
		role := cpuRoles[comm]
		switch {
		case pid == self:
			role = "client"
		case appNames[comm]:
			role = "app"
		case role != "":
		case f[1] == "2" || pid == 2: // kernel threads: writeback, softirq, …
			role = "kernel"
		default:
			role = "other"
		}
		s[pid] = procCPU{role, sec}
	}
	return s
}

// appProgramNames are the FastCGI programs' names (spawn/fcgi.list).
var appProgramNames = sync.OnceValue(func() map[string]bool {
	ps, _ := nginx.LoadPrograms(filepath.Join(repoRoot, "spawn", "fcgi.list"))
	names := map[string]bool{}
	for _, p := range ps {
		names[p.Name] = true
	}
	return names
})

// cpuSince is the CPU seconds each role used since an earlier sample.
// A process that ended in between is lost unless its parent reaped it.
func cpuSince(before cpuSample) map[string]float64 {
	by := map[string]float64{}
	for pid, now := range sampleCPU() {
		d := now.sec
		if was, ok := before[pid]; ok && was.role == now.role {
			d -= was.sec
		}
		if d > 0 {
			by[now.role] += d
		}
	}
	return by
}

// reportCPU adds the CPU milliseconds per operation of each role, and the
// total, to the benchmark's metrics.
func reportCPU(b *testing.B, before cpuSample) map[string]float64 {
	by := cpuSince(before)
	perOp := map[string]float64{}
	var total float64
	for role, sec := range by {
		ms := 1000 * sec / float64(b.N)
		perOp[role] = ms
		total += ms
		if role != "other" {
			b.ReportMetric(ms, "cpu-ms/op-"+role)
		}
	}
	perOp["total"] = total
	b.ReportMetric(total, "cpu-ms/op")
	return perOp
}

// settleDisk writes back dirty pages before a measured upload run, so that
// each run starts from the same page-cache state instead of paying for the
// write-back of the run before it (a 1 MiB run writes gigabytes).
func settleDisk() {
	syscall.Sync()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && dirtyKiB() > 64<<10 {
		time.Sleep(50 * time.Millisecond)
	}
}

// dirtyKiB is the page cache waiting to be written (Dirty + Writeback).
func dirtyKiB() int {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range strings.Split(string(raw), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "Dirty:" || f[0] == "Writeback:") {
			v, _ := strconv.Atoi(f[1])
			n += v
		}
	}
	return n
}

// threadCPU is the CPU time the calling OS thread has used (lock the
// goroutine to its thread around the measurement).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The attribution itself: CPU burnt by this process shows as "client".
func TestCPUAttribution(t *testing.T) {
	runtime.LockOSThread() // the spin reads its own thread's CPU time
	defer runtime.UnlockOSThread()
	before := sampleCPU()
	for t0 := threadCPU(); threadCPU()-t0 < 300*time.Millisecond; {
	}
	by := cpuSince(before)
	if by["client"] < 0.25 {
		t.Fatalf("300 ms of this process's CPU counted as %.3f s (%v)", by["client"], by)
	}
}

var md5Costs sync.Map // size -> md5CPU's answer

// md5CPU is the CPU milliseconds one md5 of size bytes takes here
// (measured once per size).
func md5CPU(size int) float64 {
	if v, ok := md5Costs.Load(size); ok {
		return v.(float64)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	data := make([]byte, size)
	n := max(1, (64<<20)/size) // 64 MiB in all
	t0 := threadCPU()
	for range n {
		md5.Sum(data)
	}
	ms := float64(threadCPU()-t0) / float64(time.Millisecond) / float64(n)
	md5Costs.Store(size, ms)
	return ms
}
