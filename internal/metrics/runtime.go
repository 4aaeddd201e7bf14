package metrics

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// collectRuntime adds the go_ and process_ metrics of Prometheus' Go and
// process collectors, with their names and help, read from the runtime and
// /proc/self. A file that cannot be read leaves its metrics out.
func collectRuntime(s *Set) {
	s.Gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	threads, _ := runtime.ThreadCreateProfile(nil)
	s.Gauge("go_threads", "Number of OS threads created.", float64(threads))
	s.Gauge("go_info", "Information about the Go environment.", 1, "version", runtime.Version())
	s.Gauge("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.",
		float64(runtime.GOMAXPROCS(0)))

	rm := []rtmetrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	rtmetrics.Read(rm)
	if rm[0].Value.Kind() == rtmetrics.KindUint64 {
		s.Gauge("go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.",
			float64(rm[0].Value.Uint64()))
	}
	if rm[1].Value.Kind() == rtmetrics.KindUint64 {
		s.Gauge("go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.",
			float64(rm[1].Value.Uint64()))
	}

	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&gc)
	q := make([][2]float64, len(gc.PauseQuantiles))
	for i, d := range gc.PauseQuantiles {
		q[i] = [2]float64{float64(i) / float64(len(gc.PauseQuantiles)-1), d.Seconds()}
	}
	s.add("go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", typeSummary,
		sample{value: gc.PauseTotal.Seconds(), count: uint64(gc.NumGC), quantiles: q})

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for _, m := range memStats {
		v := m.value(&ms)
		if m.counter {
			s.Counter("go_memstats_"+m.name, m.help, v)
		} else {
			s.Gauge("go_memstats_"+m.name, m.help, v)
		}
	}

	collectProcess(s)
}

// memStats are the go_memstats_ metrics.
var memStats = []struct {
	name, help string
	counter    bool
	value      func(*runtime.MemStats) float64
}{
	{"alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.Alloc) }},
	{"alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", true,
		func(m *runtime.MemStats) float64 { return float64(m.TotalAlloc) }},
	{"buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.BuckHashSys) }},
	{"frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", true,
		func(m *runtime.MemStats) float64 { return float64(m.Frees) }},
	{"gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.GCSys) }},
	{"heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.HeapAlloc) }},
	{"heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.HeapIdle) }},
	{"heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", false,
		func(m *runtime.MemStats) float64 { return float64(m.HeapInuse) }},
	{"heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", false,
		func(m *runtime.MemStats) float64 { return float64(m.HeapObjects) }},
	{"heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.HeapReleased) }},
	{"heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.HeapSys) }},
	{"last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", false,
		func(m *runtime.MemStats) float64 { return float64(m.LastGC) / 1e9 }},
	{"mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", true,
		func(m *runtime.MemStats) float64 { return float64(m.Mallocs) }},
	{"mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.MCacheInuse) }},
	{"mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.MCacheSys) }},
	{"mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.MSpanInuse) }},
	{"mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.MSpanSys) }},
	{"next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.NextGC) }},
	{"other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.OtherSys) }},
	{"stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.StackInuse) }},
	{"stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", false,
		func(m *runtime.MemStats) float64 { return float64(m.StackSys) }},
	{"sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", false,
		func(m *runtime.MemStats) float64 { return float64(m.Sys) }},
}

// userHZ is the unit of the times in /proc/self/stat (USER_HZ, 100 on
// every Linux architecture Go supports).
const userHZ = 100

func collectProcess(s *Set) {
	if st, err := os.ReadFile("/proc/self/stat"); err == nil {
		// Fields after the command name, which is in parentheses and may
		// hold spaces: f[0] is field 3 (state) of proc(5).
		if i := bytes.LastIndexByte(st, ')'); i >= 0 {
			f := strings.Fields(string(st[i+1:]))
			if len(f) > 21 {
				num := func(k int) float64 { v, _ := strconv.ParseUint(f[k], 10, 64); return float64(v) }
				s.Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (num(11)+num(12))/userHZ)
				s.Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", num(20))
				s.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", num(21)*float64(os.Getpagesize()))
				if bt := bootTime(); bt > 0 {
					s.Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", bt+num(19)/userHZ)
				}
			}
		}
	}
	if d, err := os.Open("/proc/self/fd"); err == nil {
		names, err := d.Readdirnames(-1)
		d.Close()
		if err == nil {
			s.Gauge("process_open_fds", "Number of open file descriptors.", float64(len(names)))
		}
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		s.Gauge("process_max_fds", "Maximum number of open file descriptors.", float64(lim.Cur))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		s.Gauge("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", float64(lim.Cur))
	}
	if in, out, ok := netOctets(); ok {
		s.Counter("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", in)
		s.Counter("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", out)
	}
}

// bootTime is btime of /proc/stat (Unix seconds), 0 when unknown.
var bootTime = sync.OnceValue(func() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return float64(n)
		}
	}
	return 0
})

// netOctets are IpExt InOctets and OutOctets of /proc/self/net/netstat: a
// header line of names followed by a line of values.
func netOctets() (in, out float64, ok bool) {
	b, err := os.ReadFile("/proc/self/net/netstat")
	if err != nil {
		return 0, 0, false
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		rest, found := strings.CutPrefix(line, "IpExt:")
		if !found {
			continue
		}
		if names == nil {
			names = strings.Fields(rest)
			continue
		}
		var gotIn, gotOut bool
		for i, v := range strings.Fields(rest) {
			if i >= len(names) {
				break
			}
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			switch names[i] {
			case "InOctets":
				in, gotIn = n, true
			case "OutOctets":
				out, gotOut = n, true
			}
		}
		return in, out, gotIn && gotOut
	}
	return 0, 0, false
}
