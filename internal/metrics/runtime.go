package metrics

import (
	"bufio"
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

	rm := readRuntimeMetrics()
	s.Gauge("go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.",
		rm["/gc/gogc:percent"])
	s.Gauge("go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.",
		rm["/gc/gomemlimit:bytes"])

	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&gc)
	q := make([][2]float64, len(gc.PauseQuantiles))
	for i, d := range gc.PauseQuantiles {
		q[i] = [2]float64{float64(i) / float64(len(gc.PauseQuantiles)-1), d.Seconds()}
	}
	s.add("go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", typeSummary,
		sample{value: gc.PauseTotal.Seconds(), count: uint64(gc.NumGC), quantiles: q})
	lastGC := 0.0
	if !gc.LastGC.IsZero() {
		lastGC = float64(gc.LastGC.UnixNano()) / 1e9
	}
	s.Gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", lastGC)

	for _, m := range memStats {
		v := 0.0
		for _, n := range m.sum {
			v += rm[n]
		}
		if m.counter {
			s.Counter("go_memstats_"+m.name, m.help, v)
		} else {
			s.Gauge("go_memstats_"+m.name, m.help, v)
		}
	}

	collectProcess(s)
}

// Sources of the go_memstats_ metrics in runtime/metrics.
const (
	rmAllocBytes    = "/gc/heap/allocs:bytes"
	rmAllocObjects  = "/gc/heap/allocs:objects"
	rmFreeObjects   = "/gc/heap/frees:objects"
	rmTinyObjects   = "/gc/heap/tiny/allocs:objects"
	rmHeapObjects   = "/gc/heap/objects:objects"
	rmHeapGoal      = "/gc/heap/goal:bytes"
	rmTotal         = "/memory/classes/total:bytes"
	rmObjects       = "/memory/classes/heap/objects:bytes"
	rmUnused        = "/memory/classes/heap/unused:bytes"
	rmReleased      = "/memory/classes/heap/released:bytes"
	rmFree          = "/memory/classes/heap/free:bytes"
	rmStacks        = "/memory/classes/heap/stacks:bytes"
	rmOSStacks      = "/memory/classes/os-stacks:bytes"
	rmMSpanInuse    = "/memory/classes/metadata/mspan/inuse:bytes"
	rmMSpanFree     = "/memory/classes/metadata/mspan/free:bytes"
	rmMCacheInuse   = "/memory/classes/metadata/mcache/inuse:bytes"
	rmMCacheFree    = "/memory/classes/metadata/mcache/free:bytes"
	rmBuckets       = "/memory/classes/profiling/buckets:bytes"
	rmMetadataOther = "/memory/classes/metadata/other:bytes"
	rmOther         = "/memory/classes/other:bytes"
)

// memStats are the go_memstats_ metrics, each the sum of runtime/metrics
// values as Prometheus' Go collector computes them (runtime.ReadMemStats
// would stop the world and cost a quarter MiB resident on first use).
var memStats = []struct {
	name, help string
	counter    bool
	sum        []string
}{
	{"alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", false,
		[]string{rmObjects}},
	{"alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", true,
		[]string{rmAllocBytes}},
	{"buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", false,
		[]string{rmBuckets}},
	{"frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", true,
		[]string{rmFreeObjects, rmTinyObjects}},
	{"gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", false,
		[]string{rmMetadataOther}},
	{"heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", false,
		[]string{rmObjects}},
	{"heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", false,
		[]string{rmReleased, rmFree}},
	{"heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", false,
		[]string{rmObjects, rmUnused}},
	{"heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", false,
		[]string{rmHeapObjects}},
	{"heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", false,
		[]string{rmReleased}},
	{"heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", false,
		[]string{rmObjects, rmUnused, rmReleased, rmFree}},
	{"mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", true,
		[]string{rmAllocObjects, rmTinyObjects}},
	{"mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", false,
		[]string{rmMCacheInuse}},
	{"mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", false,
		[]string{rmMCacheInuse, rmMCacheFree}},
	{"mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", false,
		[]string{rmMSpanInuse}},
	{"mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", false,
		[]string{rmMSpanInuse, rmMSpanFree}},
	{"next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", false,
		[]string{rmHeapGoal}},
	{"other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", false,
		[]string{rmOther}},
	{"stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", false,
		[]string{rmStacks}},
	{"stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", false,
		[]string{rmStacks, rmOSStacks}},
	{"sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", false,
		[]string{rmTotal}},
}

// readRuntimeMetrics reads the runtime/metrics values memStats and the
// GC settings use, by name; one the runtime does not know reads as 0.
func readRuntimeMetrics() map[string]float64 {
	names := map[string]bool{"/gc/gogc:percent": true, "/gc/gomemlimit:bytes": true}
	for _, m := range memStats {
		for _, n := range m.sum {
			names[n] = true
		}
	}
	samples := make([]rtmetrics.Sample, 0, len(names))
	for n := range names {
		samples = append(samples, rtmetrics.Sample{Name: n})
	}
	rtmetrics.Read(samples)
	out := make(map[string]float64, len(samples))
	for _, smp := range samples {
		if smp.Value.Kind() == rtmetrics.KindUint64 {
			out[smp.Name] = float64(smp.Value.Uint64())
		}
	}
	return out
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
// header line of names followed by a line of values. It is read line by
// line: os.ReadFile grows its buffer from 512 bytes for a /proc file.
func netOctets() (in, out float64, ok bool) {
	f, err := os.Open("/proc/self/net/netstat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var names [][]byte
	for sc.Scan() {
		rest, found := bytes.CutPrefix(sc.Bytes(), []byte("IpExt:"))
		if !found {
			continue
		}
		if names == nil {
			names = bytes.Fields(bytes.Clone(rest))
			continue
		}
		var gotIn, gotOut bool
		for i, v := range bytes.Fields(rest) {
			if i >= len(names) {
				break
			}
			n, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				continue
			}
			switch string(names[i]) {
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
