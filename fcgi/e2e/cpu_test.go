package e2e

import (
	"crypto/md5"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
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

var clockTick = 100.0 // USER_HZ; 100 on every Linux we run on

func sampleCPU() cpuSample {
	self := os.Getpid()
	appNames := map[string]bool{}
	for _, p := range programNames() {
		appNames[p] = true
	}
	s := cpuSample{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		line := string(raw)
		open, close := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
		if open < 0 || close < open {
			continue
		}
		comm := line[open+1 : close]
		f := strings.Fields(line[close+1:])
		if len(f) < 15 {
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

// programNames are the FastCGI programs' names (spawn/fcgi.list).
func programNames() []string {
	ps, _ := nginx.LoadPrograms(filepath.Join(repoRoot, "spawn", "fcgi.list"))
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

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

// The attribution itself: CPU burnt by this process shows as "client".
func TestCPUAttribution(t *testing.T) {
	runtime.LockOSThread() // the spin reads its own thread's CPU time
	defer runtime.UnlockOSThread()
	before := sampleCPU()
	spin := func(d time.Duration) {
		var t0 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_THREAD, &t0)
		for {
			var now syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_THREAD, &now)
			if time.Duration(now.Utime.Nano()-t0.Utime.Nano()) >= d {
				return
			}
		}
	}
	spin(300 * time.Millisecond)
	by := cpuSince(before)
	if by["client"] < 0.25 {
		t.Fatalf("300 ms of this process's CPU counted as %.3f s (%v)", by["client"], by)
	}
}

// md5CPU is the CPU milliseconds one md5 of size bytes takes here.
func md5CPU(size int) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	data := make([]byte, size)
	var t0, t1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_THREAD, &t0)
	n := max(1, (64<<20)/size) // 64 MiB in all
	for range n {
		md5.Sum(data)
	}
	syscall.Getrusage(syscall.RUSAGE_THREAD, &t1)
	cpu := time.Duration(t1.Utime.Nano() + t1.Stime.Nano() - t0.Utime.Nano() - t0.Stime.Nano())
	return float64(cpu) / float64(time.Millisecond) / float64(n)
}
