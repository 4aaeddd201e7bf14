package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// Side by side with a reference C FastDFS (-vs-fastdfs DIR, the folder with
// its fdfs_trackerd and fdfs_storaged): for each medium (a tmpfs, then a
// disk) a private C tracker and storage and a private one of ours run next
// to each other, both stores on that medium. The same load, from our client
// library (it speaks the same protocol), runs against each in alternation,
// vsRounds times; the table gives the medians, the ratio ours/C against the
// targets, and each daemon's peak RSS (VmHWM).

// vsRounds is how many times each case runs against each system.
const vsRounds = 3

// vsCases are the loads compared; the target is the ratio ours/C aimed at.
var vsCases = []benchCase{
	{name: "upload 4 KiB x8", upload: true, size: 4 << 10, conns: 8, target: 1.5},
	{name: "download 4 KiB x8", size: 4 << 10, conns: 8, target: 1.2},
	{name: "upload 64 KiB x8", upload: true, size: 64 << 10, conns: 8, target: 1.5},
	{name: "download 64 KiB x8", size: 64 << 10, conns: 8, target: 1.2},
	{name: "upload 1 MiB x8", upload: true, size: 1 << 20, conns: 8, target: 1.5},
	{name: "download 1 MiB x8", size: 1 << 20, conns: 8, target: 1.2},
	{name: "upload 64 MiB x1", upload: true, size: 64 << 20, conns: 1, target: 1.5},
	{name: "download 64 MiB x1", size: 64 << 20, conns: 1, target: 1.2},
}

// vsTrunkCases are the loads compared in trunk mode (-vs-trunk): small
// files, which trunk files pack.
var vsTrunkCases = vsCases[:4]

// vsTrunkKeys turn trunk mode on in both trackers (storages learn it from
// their tracker): small files packed into 64 MiB trunk files, slots from
// 256 bytes to 1 MiB.
var vsTrunkKeys = [][2]string{
	{"use_trunk_file", "true"}, {"slot_min_size", "256"}, {"slot_max_size", "1MB"},
	{"trunk_file_size", "64MB"}, {"trunk_create_file_advance", "false"},
}

// vsRSSTarget is the most peak RSS ours may use, as a multiple of C's.
const vsRSSTarget = 2.0

// tmpfsMagic is statfs's f_type of a tmpfs.
const tmpfsMagic = 0x01021994

// vsSystem is one running cluster (tracker + storage) and a client of it.
type vsSystem struct {
	name         string
	c            *client.Client
	trPid        func() int
	stPid        func() int
	stop         func()
	trRSS, stRSS int64  // VmHWM in KiB, read before stopping
	rssNote      string // current anonymous and file-backed RSS
}

// vsMedium is where both systems keep their files.
type vsMedium struct{ name, dir string }

func vsMain(r *cluster.Runner, fastdfsBin, ourBin string, media []vsMedium, d time.Duration, only string, trunk bool) error {
	for _, b := range []string{"fdfs_trackerd", "fdfs_storaged"} {
		if _, err := os.Stat(filepath.Join(fastdfsBin, b)); err != nil {
			return fmt.Errorf("-vs-fastdfs %s: %w", fastdfsBin, err)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; r.Fatal("interrupted") }() // stops the daemons
	defer signal.Stop(sig)
	for _, m := range media {
		if err := vsMedium1(r, fastdfsBin, ourBin, m, d, only, trunk); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
	}
	fmt.Println("ratio = median ours / median C FastDFS (ops/s); RSS = VmHWM after the runs")
	return nil
}

func vsMedium1(r *cluster.Runner, fastdfsBin, ourBin string, m vsMedium, d time.Duration, only string, trunk bool) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(m.dir, &st); err != nil {
		return err
	}
	kind := "disk"
	if st.Type == tmpfsMagic {
		kind = "tmpfs"
	}
	cases, mode := vsCases, ""
	if trunk {
		cases, mode = vsTrunkCases, ", trunk mode"
	}
	fmt.Printf("\n== %s: %s (%s)%s ==\n", m.name, m.dir, kind, mode)
	if (m.name == "tmpfs") != (kind == "tmpfs") {
		fmt.Printf("warning: %s is not on a %s\n", m.dir, m.name)
	}
	ref, err := startC(r, fastdfsBin, m.dir, "127.0.0.52", "127.0.0.53", trunk)
	if err != nil {
		return fmt.Errorf("reference C FastDFS: %w", err)
	}
	defer ref.stop()
	ours, err := startOurs(r, ourBin, m.dir, "127.0.0.62", "127.0.0.63", trunk)
	if err != nil {
		return fmt.Errorf("ours: %w", err)
	}
	defer ours.stop()
	systems := []*vsSystem{ref, ours}

	results := map[string]map[string][]float64{} // case → system → ops/s
	cpus := map[string]map[string][]cpuUse{}     // case → system → CPU per operation
	for round := range vsRounds {
		order := systems
		if round%2 == 1 {
			order = []*vsSystem{ours, ref} // alternate who goes first
		}
		for _, bc := range cases {
			if only != "" && !strings.Contains(bc.name, only) {
				continue
			}
			for _, sys := range order {
				var before, used cpuUse
				ops, _, elapsed, err := runCaseTimed(sys.c, bc, d,
					func() { before = sys.cpu() }, func() { used = sys.cpu().sub(before) })
				if err != nil {
					return fmt.Errorf("%s, %s: %w", sys.name, bc.name, err)
				}
				if results[bc.name] == nil {
					results[bc.name] = map[string][]float64{}
					cpus[bc.name] = map[string][]cpuUse{}
				}
				results[bc.name][sys.name] = append(results[bc.name][sys.name], float64(ops)/elapsed.Seconds())
				cpus[bc.name][sys.name] = append(cpus[bc.name][sys.name], used.per(ops))
			}
		}
		fmt.Printf("round %d of %d done\n", round+1, vsRounds)
	}
	if trunk {
		for _, sys := range systems {
			fmt.Printf("%s: %s\n", sys.name, trunkResident(sys.c))
		}
	}
	for _, sys := range systems {
		sys.trRSS, sys.stRSS = vmHWM(sys.trPid()), vmHWM(sys.stPid())
		// The peak counts the mapped program too (a Go binary's text is
		// several MiB): the split of the current RSS tells them apart.
		note := func(pid int) string {
			return fmt.Sprintf("anon %s + file %s", kib(procStatus(pid, "RssAnon")), kib(procStatus(pid, "RssFile")))
		}
		sys.rssNote = fmt.Sprintf("%s now: tracker %s, storage %s", sys.name, note(sys.trPid()), note(sys.stPid()))
	}

	fmt.Printf("%-20s %12s %12s %10s %10s %7s %7s  %s\n", "case", "C op/s", "ours op/s", "C MiB/s", "ours MiB/s", "ratio", "target", "rounds C | ours")
	for _, bc := range cases {
		res := results[bc.name]
		if res == nil {
			continue
		}
		cm, om := median(res[ref.name]), median(res[ours.name])
		mib := func(ops float64) float64 { return ops * float64(bc.size) / (1 << 20) }
		verdict := "ok"
		if om/cm < bc.target {
			verdict = "BELOW"
		}
		fmt.Printf("%-20s %12.0f %12.0f %10.1f %10.1f %6.2fx %6.1fx  %s | %s  %s\n", bc.name, cm, om, mib(cm), mib(om), om/cm, bc.target,
			fmtRounds(res[ref.name]), fmtRounds(res[ours.name]), verdict)
	}
	// Where the time goes: CPU per operation of each daemon and of the load
	// generator (the same client for both), medians of the rounds.
	fmt.Printf("\n%-20s %40s %40s\n", "CPU µs per op", "C tracker/storage/client (switches)", "ours tracker/storage/client (switches)")
	for _, bc := range cases {
		c := cpus[bc.name]
		if c == nil {
			continue
		}
		fmt.Printf("%-20s %40s %40s\n", bc.name, medianCPU(c[ref.name]), medianCPU(c[ours.name]))
	}
	fmt.Printf("peak RSS (VmHWM): C tracker %s, storage %s; ours tracker %s, storage %s; storage ratio %.2fx, tracker ratio %.2fx (target ≤ %.1fx)\n",
		kib(ref.trRSS), kib(ref.stRSS), kib(ours.trRSS), kib(ours.stRSS),
		ratio(ours.stRSS, ref.stRSS), ratio(ours.trRSS, ref.trRSS), vsRSSTarget)
	fmt.Printf("RSS %s; %s\n", ref.rssNote, ours.rssNote)
	return nil
}

// trunkResident says whether a 4 KiB upload lands in a trunk file: its
// remote name is then 60 characters (M00/HH/HH/, 27 of the name's own
// record, 16 of its place in the trunk, the 7 of the extension) instead of
// 44.
func trunkResident(c *client.Client) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := c.UploadBuffer(ctx, make([]byte, 4<<10), "bin")
	if err != nil {
		return fmt.Sprintf("a 4 KiB upload failed: %v", err)
	}
	defer c.Delete(ctx, id)
	_, remote, _ := strings.Cut(id, "/")
	if len(remote) == 60 {
		return id + " (in a trunk file)"
	}
	return id + " (NOT in a trunk file: trunk mode is off)"
}

// cpuUse is CPU time (user + system) of a system's tracker, its storage
// and the load generator, in µs; per operation after per.
type cpuUse struct{ tracker, storage, client, trSwitch, stSwitch float64 }

// cpu reads the CPU time used so far by the system's daemons and by this
// process.
func (sys *vsSystem) cpu() cpuUse {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self := float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e3
	return cpuUse{tracker: procCPU(sys.trPid()), storage: procCPU(sys.stPid()), client: self,
		trSwitch: procSwitches(sys.trPid()), stSwitch: procSwitches(sys.stPid())}
}

func (u cpuUse) sub(v cpuUse) cpuUse {
	return cpuUse{u.tracker - v.tracker, u.storage - v.storage, u.client - v.client, u.trSwitch - v.trSwitch, u.stSwitch - v.stSwitch}
}

func (u cpuUse) per(ops int64) cpuUse {
	if ops <= 0 {
		return cpuUse{}
	}
	n := float64(ops)
	return cpuUse{u.tracker / n, u.storage / n, u.client / n, u.trSwitch / n, u.stSwitch / n}
}

// procSwitches sums the context switches of all of pid's threads: each is
// a thread going to sleep or being preempted, which on a busy 2-core
// machine costs more than most requests' own work.
func procSwitches(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var sum float64
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasSuffix(strings.SplitN(line, ":", 2)[0], "ctxt_switches") {
				n, _ := strconv.ParseFloat(strings.TrimSpace(strings.SplitN(line, ":", 2)[1]), 64)
				sum += n
			}
		}
	}
	return sum
}

func medianCPU(v []cpuUse) string {
	pick := func(f func(cpuUse) float64) float64 {
		x := make([]float64, len(v))
		for i, u := range v {
			x[i] = f(u)
		}
		return median(x)
	}
	return fmt.Sprintf("%.0f / %.0f / %.0f (switches %.1f / %.1f)", pick(func(u cpuUse) float64 { return u.tracker }),
		pick(func(u cpuUse) float64 { return u.storage }), pick(func(u cpuUse) float64 { return u.client }),
		pick(func(u cpuUse) float64 { return u.trSwitch }), pick(func(u cpuUse) float64 { return u.stSwitch }))
}

// procCPU reads utime + stime of pid from /proc/<pid>/stat, in µs (all its
// threads; the kernel counts in clock ticks of 10 ms).
func procCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name in parentheses may hold spaces: fields count from
	// the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) * 1e4 // 100 ticks per second
}

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func kib(n int64) string {
	if n <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/1024)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtRounds(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(parts, " ")
}

// vmHWM reads the peak resident set size (KiB) of pid; 0 when unknown.
func vmHWM(pid int) int64 { return procStatus(pid, "VmHWM") }

// procStatus reads a "kB" field of /proc/<pid>/status; 0 when unknown.
func procStatus(pid int, key string) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// pidFile reads <base>/data/<name>.pid, which both implementations write.
func pidFile(base, name string) int {
	b, err := os.ReadFile(filepath.Join(base, "data", name+".pid"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// startOurs runs our tracker and storage with their base paths under dir.
func startOurs(r *cluster.Runner, bin, dir, trIP, stIP string, trunk bool) (*vsSystem, error) {
	os.Setenv("YUNPAN_BIN", bin)
	old, had := os.LookupEnv("TMPDIR")
	os.Setenv("TMPDIR", dir) // the harness makes base paths with os.MkdirTemp
	defer func() {
		if had {
			os.Setenv("TMPDIR", old)
		} else {
			os.Unsetenv("TMPDIR")
		}
	}()
	var trKeys map[string]string
	if trunk {
		trKeys = map[string]string{}
		for _, kv := range vsTrunkKeys {
			trKeys[kv[0]] = kv[1]
		}
	}
	tr := cluster.StartTracker(r, trIP, trKeys)
	st := cluster.StartStorage(r, stIP, "group1", []*cluster.Proc{tr}, map[string]string{
		"subdir_count_per_path": "256", "max_connections": "1024",
	})
	cluster.WaitStatus(r, tr, "group1", st, proto.StatusActive, 60*time.Second)
	c, err := newPooledClient(cluster.ClientConf(r, []*cluster.Proc{tr}, nil))
	if err != nil {
		return nil, err
	}
	fmt.Printf("ours: tracker %s, storage %s\n", tr.Addr(), st.Addr())
	return &vsSystem{
		name:  "ours",
		c:     c,
		trPid: func() int { return pidFile(tr.Base, "fdfs_trackerd") },
		stPid: func() int { return pidFile(st.Base, "fdfs_storaged") },
		stop:  func() { c.Close(); st.Stop(); tr.Stop() },
	}, nil
}

func newPooledClient(path string) (*client.Client, error) {
	cfg, err := conf.LoadClient(path)
	if err != nil {
		return nil, err
	}
	cfg.UseConnectionPool = true
	return client.New(cfg)
}

// startC runs the reference tracker and storage from bin with their base
// paths under dir. They daemonize and chdir to /, so every path is
// absolute, and each is found again through its pid file. The C storage
// refuses a tracker on 127.0.0.1, hence other loopback addresses.
func startC(r *cluster.Runner, bin, dir, trIP, stIP string, trunk bool) (*vsSystem, error) {
	base, err := os.MkdirTemp(dir, "fastdfs-ref-")
	if err != nil {
		return nil, err
	}
	base, _ = filepath.Abs(base)
	trBase, stBase := filepath.Join(base, "tracker"), filepath.Join(base, "storage")
	for _, d := range []string{trBase, stBase} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	trPort, stPort := cluster.FreePort(r, trIP), cluster.FreePort(r, stIP)
	common := [][2]string{
		{"disabled", "false"}, {"connect_timeout", "5"}, {"network_timeout", "60"},
		{"max_connections", "1024"}, {"accept_threads", "1"}, {"work_threads", "4"},
		{"log_level", "warn"}, {"use_connection_pool", "true"}, {"allow_hosts", "*"},
	}
	trConf := filepath.Join(trBase, "tracker.conf")
	trKeys := slices.Clone(common)
	if trunk {
		trKeys = append(trKeys, vsTrunkKeys...)
	}
	err = writeKV(trConf, append(trKeys,
		[2]string{"bind_addr", trIP}, [2]string{"port", strconv.Itoa(trPort)}, [2]string{"base_path", trBase},
		[2]string{"store_lookup", "0"}, [2]string{"reserved_storage_space", "1%"},
		[2]string{"min_buff_size", "8KB"}, [2]string{"max_buff_size", "128KB"}))
	if err != nil {
		return nil, err
	}
	stConf := filepath.Join(stBase, "storage.conf")
	err = writeKV(stConf, append(slices.Clone(common),
		// tracker_server first: keys after a [section] belong to it.
		[2]string{"tracker_server", fmt.Sprintf("%s:%d", trIP, trPort)},
		[2]string{"group_name", "group1"}, [2]string{"bind_addr", stIP}, [2]string{"client_bind", "true"},
		[2]string{"port", strconv.Itoa(stPort)}, [2]string{"base_path", stBase},
		[2]string{"store_path_count", "1"}, [2]string{"store_path0", stBase}, [2]string{"subdir_count_per_path", "256"},
		[2]string{"heart_beat_interval", "1"}, [2]string{"stat_report_interval", "60"}, [2]string{"buff_size", "256KB"},
		[2]string{"disk_rw_separated", "true"}, [2]string{"disk_reader_threads", "2"}, [2]string{"disk_writer_threads", "1"},
		[2]string{"sync_binlog_buff_interval", "1"}, [2]string{"fsync_after_written_bytes", "0"},
		[2]string{"thread_stack_size", "512KB"}))
	if err != nil {
		return nil, err
	}
	sys := &vsSystem{
		name:  "C",
		trPid: func() int { return pidFile(trBase, "fdfs_trackerd") },
		stPid: func() int { return pidFile(stBase, "fdfs_storaged") },
	}
	var once sync.Once
	sys.stop = func() {
		once.Do(func() {
			if sys.c != nil {
				sys.c.Close()
			}
			stopPid(sys.stPid())
			stopPid(sys.trPid())
			os.RemoveAll(base)
		})
	}
	r.Cleanup(sys.stop) // also on a fatal error or an interrupt: they run in the background
	if err := runDaemon(filepath.Join(bin, "fdfs_trackerd"), trConf, fmt.Sprintf("%s:%d", trIP, trPort), sys.trPid, filepath.Join(trBase, "logs", "trackerd.log"), 30*time.Second); err != nil {
		return nil, fmt.Errorf("tracker: %w\n%s", err, tail(filepath.Join(trBase, "logs", "trackerd.log")))
	}
	// The first start creates 256×256 directories before it listens.
	if err := runDaemon(filepath.Join(bin, "fdfs_storaged"), stConf, fmt.Sprintf("%s:%d", stIP, stPort), sys.stPid, filepath.Join(stBase, "logs", "storaged.log"), 180*time.Second); err != nil {
		return nil, fmt.Errorf("storage: %w\n%s", err, tail(filepath.Join(stBase, "logs", "storaged.log")))
	}
	clientConf := filepath.Join(base, "client.conf")
	if err := writeKV(clientConf, [][2]string{
		{"connect_timeout", "5"}, {"network_timeout", "60"}, {"base_path", base},
		{"tracker_server", fmt.Sprintf("%s:%d", trIP, trPort)}, {"use_connection_pool", "true"},
	}); err != nil {
		return nil, err
	}
	if sys.c, err = newPooledClient(clientConf); err != nil {
		return nil, err
	}
	// Ready when an upload goes through (the storage has joined and is ACTIVE).
	deadline := time.Now().Add(120 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		id, err := sys.c.UploadBuffer(ctx, []byte("probe"), "txt")
		if err == nil {
			sys.c.Delete(ctx, id)
			cancel()
			break
		}
		cancel()
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no upload accepted: %w\n%s", err, tail(filepath.Join(stBase, "logs", "storaged.log")))
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Printf("C FastDFS: tracker %s:%d (pid %d), storage %s:%d (pid %d), from %s\n", trIP, trPort, sys.trPid(), stIP, stPort, sys.stPid(), bin)
	return sys, nil
}

func writeKV(path string, kv [][2]string) error {
	var b bytes.Buffer
	for _, e := range kv {
		fmt.Fprintf(&b, "%s = %s\n", e[0], e[1])
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// runDaemon starts a C daemon (it forks into the background) and waits
// until it writes its pid file and listens on addr; a log line saying it
// gave up ends the wait early.
func runDaemon(bin, confPath, addr string, pid func() int, logPath string, wait time.Duration) error {
	cmd := exec.Command(bin, confPath, "start")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan struct{})
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(wait)
	for {
		if pid() > 0 && cluster.WaitTCP(addr, 200*time.Millisecond, nil) == nil {
			return nil
		}
		if time.Now().After(deadline) || strings.Contains(tail(logPath), "exit abnormally") {
			return fmt.Errorf("not listening on %s: %s", addr, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopPid sends SIGTERM to a daemon this program started and waits for it
// to end, SIGKILL after 15 s.
func stopPid(pid int) {
	if pid <= 0 {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
