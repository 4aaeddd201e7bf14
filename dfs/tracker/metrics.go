package tracker

import (
	"net"
	"time"

	"yunpan/dfs/proto"
	"yunpan/internal/metrics"
)

// trackerMetrics counts what the tracker does for /metrics (metrics_addr,
// conf/metrics.go). The registry always exists; the listener only when
// configured.
type trackerMetrics struct {
	reg      *metrics.Registry
	srv      *metrics.Server // nil: no listener
	requests *metrics.CounterVec
	conns    *metrics.Counter
}

// initMetrics builds the registry and binds metrics_addr when set.
func (t *Tracker) initMetrics() error {
	m := &trackerMetrics{reg: metrics.NewRegistry()}
	m.requests = m.reg.CounterVec("dfs_tracker_requests_total",
		"Requests answered, by command code and status byte (0 = success).", "cmd", "status")
	m.conns = m.reg.Counter("dfs_tracker_connections_accepted_total",
		"Connections accepted (after allow_hosts and max_connections).")
	m.reg.Collect(t.collectMetrics)
	if a := t.opts.MetricsAddr; a != "" {
		srv, err := metrics.Listen(a, m.reg)
		if err != nil {
			return err
		}
		m.srv = srv
		t.log.Info().Str("addr", srv.Addr().String()).Msg("metrics listening")
	}
	t.met = m
	return nil
}

// MetricsAddr is the bound metrics listener, nil when metrics_addr is off.
func (t *Tracker) MetricsAddr() net.Addr {
	if t.met == nil || t.met.srv == nil {
		return nil
	}
	return t.met.srv.Addr()
}

// startMetrics serves the metrics listener in a goroutine Exit waits for.
func (t *Tracker) startMetrics() {
	if t.met == nil || t.met.srv == nil {
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if err := t.met.srv.Serve(); err != nil {
			t.log.Error().Err(err).Msg("metrics listener")
		}
	}()
}

// closeMetrics stops the listener (Exit).
func (t *Tracker) closeMetrics() {
	if t.met != nil && t.met.srv != nil {
		t.met.srv.Close()
	}
}

// observeRequest counts one answered request.
func (t *Tracker) observeRequest(cmd, status byte) {
	if t.met != nil {
		t.met.requests.With(metrics.Byte(cmd), metrics.Byte(status)).Inc()
	}
}

// connAccepted counts one served connection.
func (t *Tracker) connAccepted() {
	if t.met != nil {
		t.met.conns.Inc()
	}
}

// statusNames are the storage states /metrics always lists (0 when none).
var statusNames = []byte{proto.StatusInit, proto.StatusWaitSync, proto.StatusSyncing, proto.StatusIPChanged,
	proto.StatusDeleted, proto.StatusOffline, proto.StatusOnline, proto.StatusActive, proto.StatusRecovery}

// collectMetrics adds the registry's current state at scrape time.
func (t *Tracker) collectMetrics(s *metrics.Set) {
	t.connMu.Lock()
	open := len(t.conns)
	t.connMu.Unlock()
	s.Gauge("dfs_tracker_connections", "Connections open now.", float64(open))
	s.Gauge("dfs_tracker_max_connections", "max_connections.", float64(t.opts.MaxConnections))

	now := time.Now().Unix()
	t.mu.Lock()
	defer t.mu.Unlock()
	leader := 0.0
	if t.rel.leaderSelf {
		leader = 1
	}
	s.Gauge("dfs_tracker_leader", "1 when this tracker is the leader.", leader)
	s.Gauge("dfs_tracker_groups", "Groups known.", float64(len(t.reg.groups)))
	for _, g := range t.reg.groups {
		count := map[byte]int{}
		for _, st := range g.Storages {
			count[st.Status]++
		}
		for _, code := range statusNames {
			s.Gauge("dfs_tracker_storages", "Storage servers by group and status.", float64(count[code]),
				"group", g.Name, "status", proto.StorageStatusName(code))
		}
		s.Gauge("dfs_tracker_group_free_mb", "Free space of a group as the tracker computes it (MB).", float64(g.FreeMB), "group", g.Name)
		for _, st := range g.Storages {
			s.Gauge("dfs_tracker_storage_free_mb", "Free MB a storage last reported.", float64(st.FreeMB), "group", g.Name, "storage", st.ID)
			s.Gauge("dfs_tracker_storage_total_mb", "Total MB a storage last reported.", float64(st.TotalMB), "group", g.Name, "storage", st.ID)
			if st.LastHeartBeat > 0 {
				s.Gauge("dfs_tracker_storage_heartbeat_age_seconds", "Seconds since the storage's last heartbeat.",
					float64(max(now-st.LastHeartBeat, 0)), "group", g.Name, "storage", st.ID)
			}
			if st.LastSynced > 0 {
				s.Gauge("dfs_tracker_storage_last_synced_timestamp_seconds",
					"last_synced_timestamp the storage reported (how far it caught up with its peers).",
					float64(st.LastSynced), "group", g.Name, "storage", st.ID)
			}
			if d, ok := syncDelay(g, st); ok {
				s.Gauge("dfs_tracker_storage_sync_delay_seconds",
					"fdfs_monitor's sync delay: the newest last_source_update of the other storages of the group minus this one's last_synced_timestamp.",
					float64(d), "group", g.Name, "storage", st.ID)
			}
		}
	}
}

// syncDelay is the delay fdfs_monitor prints (docs/protocol.md §9.8): known only when
// another storage of the group has a source update and st has synced.
func syncDelay(g *group, st *storage) (int64, bool) {
	var newest int64
	for _, o := range g.Storages {
		if o != st {
			newest = max(newest, o.Stat.Counters[proto.StatLastSourceUpdate])
		}
	}
	if newest == 0 || st.LastSynced == 0 {
		return 0, false
	}
	return max(newest-st.LastSynced, 0), true
}
