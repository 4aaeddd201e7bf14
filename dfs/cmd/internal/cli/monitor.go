package cli

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"yunpan/conf"
	"yunpan/dfs/proto"
)

// MonitorUsage is fdfs_monitor's usage text (§9.8).
const MonitorUsage = "Usage:\n" +
	"  fdfs_monitor <client_cfg_file> [-h <tracker_server>]\n" +
	"  [list|delete|set_trunk_server <group_name> [storage_id]]\n"

// DefaultClientConf is what fdfs_monitor reads when given no arguments.
const DefaultClientConf = "/etc/fdfs/client.conf"

// Monitor is fdfs_monitor (§9.8). Its exit code is 0 once the config is
// loaded, whatever the cluster answers.
func Monitor(args []string, stdout, stderr io.Writer) int {
	confPath := DefaultClientConf
	if len(args) > 0 {
		confPath, args = args[0], args[1:]
	}
	tracker := ""
	if len(args) > 0 && args[0] == "-h" {
		if len(args) < 2 {
			fmt.Fprint(stdout, MonitorUsage)
			return 1
		}
		tracker, args = args[1], args[2:]
	}
	op := "list"
	if len(args) > 0 {
		op, args = args[0], args[1:]
	}
	c, code := Open(confPath, stderr)
	if c == nil {
		return code
	}
	defer c.Close()
	ctx, cancel := Context()
	defer cancel()

	trackers := c.Trackers()
	idx := rand.IntN(len(trackers))
	if tracker != "" {
		norm, err := conf.NormalizeHostPort(tracker, conf.DefaultTrackerPort)
		idx = -1
		for i, t := range trackers {
			if err == nil && t == norm {
				idx = i
			}
		}
		if idx < 0 {
			fmt.Fprintf(stderr, "tracker server %s is not in the config file %s\n", tracker, confPath)
			return int(proto.StatusENOENT)
		}
	}

	switch op {
	case "list":
	case "delete", "set_trunk_server":
		if len(args) < 1 || op == "delete" && len(args) > 2 {
			fmt.Fprint(stdout, MonitorUsage)
			return 1
		}
		group, id := args[0], ""
		if len(args) > 1 {
			id = args[1]
		}
		switch {
		case op == "set_trunk_server":
			what := "set trunk server " + group + "::" + id
			newID, err := c.SetTrunkServer(ctx, group, id)
			if err != nil {
				fmt.Fprintln(stdout, FailLine(what, err))
			} else {
				fmt.Fprintf(stdout, "%s success, new trunk server: %s\n", what, newID)
			}
		case id == "":
			reportDone(stdout, "delete group: "+group, c.DeleteGroup(ctx, group))
		default:
			reportDone(stdout, "delete storage server "+group+"::"+id, c.DeleteStorage(ctx, group, id))
		}
		return 0
	default:
		fmt.Fprintf(stdout, "Invalid command %s\n\n", op)
		fmt.Fprint(stdout, MonitorUsage)
		return 1
	}

	group := ""
	if len(args) > 0 {
		group = args[0]
	}
	// Start at a random tracker (or the -h one) and move on while a tracker
	// cannot be reached; one connection then serves every list request.
	var groups []proto.GroupStat
	var err error
	for range trackers {
		if group == "" {
			groups, err = c.ListGroups(ctx, trackers[idx])
		} else {
			var g *proto.GroupStat
			if g, err = c.ListGroup(ctx, trackers[idx], group); err == nil {
				groups = []proto.GroupStat{*g}
			}
		}
		var se proto.StatusError
		if err == nil || errors.As(err, &se) || tracker != "" || ctx.Err() != nil {
			break
		}
		idx = (idx + 1) % len(trackers)
	}
	var se proto.StatusError
	if err != nil && !errors.As(err, &se) {
		fmt.Fprintln(stderr, FailLine("connect to tracker server "+trackers[idx], err))
		return Errno(err)
	}
	addr := trackers[idx]
	var b strings.Builder
	fmt.Fprintf(&b, "tracker server count=%d, current server index=%d\n\n", len(trackers), idx)
	fmt.Fprintf(&b, "tracker server is %s\n\n", addr)
	if err != nil {
		io.WriteString(stdout, b.String())
		what := "list all groups"
		if group != "" {
			what = "list group " + group
		}
		fmt.Fprintln(stderr, FailLine(what, err))
		return 0
	}
	if group == "" {
		fmt.Fprintf(&b, "group count: %d\n", len(groups))
	}
	for i, g := range groups {
		ss, err := c.ListStorage(ctx, addr, g.Name, "")
		if group == "" {
			fmt.Fprintf(&b, "\nGroup %d:\n", i+1)
		}
		FormatGroup(&b, &g, ss)
		if err != nil {
			io.WriteString(stdout, b.String())
			b.Reset()
			fmt.Fprintln(stderr, FailLine("list storage servers of group "+g.Name, err))
		}
	}
	io.WriteString(stdout, b.String())
	return 0
}

func reportDone(w io.Writer, what string, err error) {
	if err != nil {
		fmt.Fprintln(w, FailLine(what, err))
		return
	}
	fmt.Fprintf(w, "%s success\n", what)
}

// availMB is free minus reserved space, never below zero.
func availMB(free, reserved int64) int64 { return max(free-reserved, 0) }

// FormatGroup writes one group block of `fdfs_monitor list` and its
// storages (§9.8). Trunk lines appear only when the group uses trunk files
// (current_trunk_file_id ≥ 0).
func FormatGroup(b *strings.Builder, g *proto.GroupStat, ss []proto.StorageStat) {
	trunk := g.CurrentTrunkFileID >= 0
	fmt.Fprintf(b, "group name = %s\n", g.Name)
	fmt.Fprintf(b, "disk total space     = %7s\n", HumanMB(g.TotalMB))
	fmt.Fprintf(b, "disk free space      = %7s\n", HumanMB(g.FreeMB))
	fmt.Fprintf(b, "disk reserved space  = %7s\n", HumanMB(g.ReservedMB))
	fmt.Fprintf(b, "disk available space = %7s\n", HumanMB(availMB(g.FreeMB, g.ReservedMB)))
	if trunk {
		fmt.Fprintf(b, "trunk free space = %7s\n", HumanMB(g.TrunkFreeMB))
	}
	fmt.Fprintf(b, "storage server count = %d\n", g.StorageCount)
	fmt.Fprintf(b, "readable server count = %d\n", g.ReadableCount)
	fmt.Fprintf(b, "writable server count = %d\n", g.WritableCount)
	fmt.Fprintf(b, "storage server port = %d\n", g.StoragePort)
	fmt.Fprintf(b, "store path count = %d\n", g.StorePathCount)
	fmt.Fprintf(b, "subdir count per path = %d\n", g.SubdirCount)
	fmt.Fprintf(b, "current write server index = %d\n", g.CurrentWriteServer)
	if trunk {
		for _, s := range ss {
			if s.IfTrunkServer {
				fmt.Fprintf(b, "current trunk server = %s (%s)\n", s.ID, s.IP)
				fmt.Fprintf(b, "current trunk file id = %d\n", g.CurrentTrunkFileID)
				break
			}
		}
	}
	for i := range ss {
		var maxOther int64 // newest source update among the other storages
		for j := range ss {
			if j != i {
				maxOther = max(maxOther, ss[j].Stat.Counters[proto.StatLastSourceUpdate])
			}
		}
		fmt.Fprintf(b, "\n\tStorage %d:\n", i+1)
		formatStorage(b, &ss[i], maxOther)
	}
}

func rwModeName(m byte) string {
	switch m {
	case proto.RWBoth:
		return "both (normal)"
	case proto.RWRead:
		return "readonly"
	case proto.RWWrite:
		return "writeonly"
	case proto.RWNone:
		return "none (disabled)"
	}
	return fmt.Sprintf("unknown (%d)", m)
}

func formatStorage(b *strings.Builder, s *proto.StorageStat, maxOther int64) {
	up := ""
	if s.UpTime != 0 {
		up = FormatTime(s.UpTime)
	}
	fmt.Fprintf(b, "\t\tid = %s\n", s.ID)
	fmt.Fprintf(b, "\t\thost = %s:%d  %s\n", s.IP, s.StoragePort, proto.StorageStatusName(s.Status))
	fmt.Fprintf(b, "\t\tread write mode = %s\n", rwModeName(s.RWMode))
	fmt.Fprintf(b, "\t\tversion = %s\n", s.Version)
	fmt.Fprintf(b, "\t\tjoin time = %s\n", FormatTime(s.JoinTime))
	fmt.Fprintf(b, "\t\tup time = %s\n", up)
	fmt.Fprintf(b, "\t\tdisk total space     = %7s\n", HumanMB(s.TotalMB))
	fmt.Fprintf(b, "\t\tdisk free space      = %7s\n", HumanMB(s.FreeMB))
	fmt.Fprintf(b, "\t\tdisk reserved space  = %7s\n", HumanMB(s.ReservedMB))
	fmt.Fprintf(b, "\t\tdisk available space = %7s\n", HumanMB(availMB(s.FreeMB, s.ReservedMB)))
	fmt.Fprintf(b, "\t\tupload priority = %d\n", s.UploadPriority)
	fmt.Fprintf(b, "\t\tstore_path_count = %d\n", s.StorePathCount)
	fmt.Fprintf(b, "\t\tsubdir_count_per_path = %d\n", s.SubdirCount)
	fmt.Fprintf(b, "\t\tcurrent_write_path = %d\n", s.CurrentWritePath)
	fmt.Fprintf(b, "\t\tsource storage id = %s\n", s.SrcID)
	fmt.Fprintf(b, "\t\tif_trunk_server = %d\n", b2i(s.IfTrunkServer))
	fmt.Fprintf(b, "\t\tconnection.alloc_count = %d\n", s.Stat.ConnAlloc)
	fmt.Fprintf(b, "\t\tconnection.current_count = %d\n", s.Stat.ConnCurrent)
	fmt.Fprintf(b, "\t\tconnection.max_count = %d\n", s.Stat.ConnMax)
	for k := 0; k < proto.StatLastSourceUpdate; k++ {
		name := proto.StatCounterNames[k]
		if k == proto.StatTotalDownloadBytes {
			name = "stotal_download_bytes" // the reference tool's typo, kept byte for byte
		}
		fmt.Fprintf(b, "\t\t%s = %d\n", name, s.Stat.Counters[k])
	}
	c := &s.Stat.Counters
	fmt.Fprintf(b, "\t\tlast_heart_beat_time = %s\n", FormatTime(c[proto.StatLastHeartBeatTime]))
	fmt.Fprintf(b, "\t\tlast_source_update = %s\n", FormatTime(c[proto.StatLastSourceUpdate]))
	fmt.Fprintf(b, "\t\tlast_sync_update = %s\n", FormatTime(c[proto.StatLastSyncUpdate]))
	fmt.Fprintf(b, "\t\tlast_synced_timestamp = %s %s\n", FormatTime(c[proto.StatLastSyncedTimestamp]),
		syncDelay(maxOther, c[proto.StatLastSyncedTimestamp]))
}

// syncDelay is the suffix of the last_synced_timestamp line: empty unless
// another storage of the group has a source update.
func syncDelay(maxOther, synced int64) string {
	switch {
	case maxOther == 0:
		return ""
	case synced == 0:
		return "(never synced)"
	}
	return "(" + FormatDelay(max(maxOther-synced, 0)) + " delay)"
}

// FormatDelay writes seconds as "N days N hours N minutes N seconds",
// dropping zero units and using singular forms for 1; 0 is "0 second".
func FormatDelay(sec int64) string {
	units := []struct {
		n    int64
		name string
	}{{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}}
	var parts []string
	for _, u := range units {
		v := sec / u.n
		sec %= u.n
		switch {
		case v == 1:
			parts = append(parts, "1 "+u.name)
		case v > 1:
			parts = append(parts, fmt.Sprintf("%d %ss", v, u.name))
		}
	}
	if len(parts) == 0 {
		return "0 second"
	}
	return strings.Join(parts, " ")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
