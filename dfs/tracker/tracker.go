// Package tracker is the FastDFS-compatible tracker ("lookupd"): a registry
// of groups and storage servers fed by storage joins, heartbeats and
// disk-usage reports, answering clients which storage to upload to or
// download from: docs/protocol.md §1, §2, §4, §7. Section numbers (§) in
// this package refer to docs/protocol.md.
package tracker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"yunpan/conf"
	"yunpan/dfs/internal/allow"
	"yunpan/dfs/proto"
)

// saveInterval bounds how often a changed registry is written.
const saveInterval = time.Second

// Tracker is one tracker server.
type Tracker struct {
	opts    *conf.Tracker
	log     zerolog.Logger
	ipSize  int // W of §1.7
	allow   *allow.List
	dataDir string
	lns     []net.Listener

	mu        sync.Mutex // guards reg, changelog, trackers, selfIPs
	reg       *registry
	changelog *changelog
	trackers  map[string]struct{} // tracker "host:port" learned from joins (§4.9)
	selfIPs   map[string]struct{} // addresses storages reach us by

	saveMu sync.Mutex // serialises registry writes

	rel    relState                   // leader election and peers (relationship.go), under mu
	ids    *idTable                   // storage_ids.conf, nil without use_storage_id (storageids.go)
	auth   *proto.ClusterAuthVerifier // cluster_secret, nil when unset (clusterauth.go)
	copyMu sync.Mutex                 // one system-data copy at a time (syscopy.go)
	met    *trackerMetrics            // /metrics (metrics.go)

	connMu  sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool

	started  atomic.Bool
	exitOnce sync.Once
	exitCh   chan struct{}
	doneCh   chan struct{}
	wg       sync.WaitGroup
}

// New loads base_path/data and binds the listener(s), so Addr is valid on
// return. opts is not modified; zero limits and timeouts take the code
// defaults.
func New(opts *conf.Tracker, log zerolog.Logger) (*Tracker, error) {
	o := withDefaults(opts)
	if err := validate(o); err != nil {
		return nil, err
	}
	hosts, err := allow.Parse(o.AllowHosts)
	if err != nil {
		return nil, fmt.Errorf("tracker: %w", err)
	}
	ids, err := newIDTable(o)
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(o.BasePath, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("tracker: data dir: %w", err)
	}
	reg, err := loadRegistry(dataDir)
	if err != nil {
		return nil, fmt.Errorf("tracker: %w", err)
	}
	cl, err := openChangelog(filepath.Join(dataDir, changelogFile))
	if err != nil {
		return nil, fmt.Errorf("tracker: %w", err)
	}
	reg.log = log
	t := &Tracker{
		opts:      o,
		log:       log,
		ipSize:    o.ResponseIPSize(),
		allow:     hosts,
		dataDir:   dataDir,
		reg:       reg,
		changelog: cl,
		trackers:  map[string]struct{}{},
		selfIPs:   map[string]struct{}{},
		conns:     map[net.Conn]struct{}{},
		exitCh:    make(chan struct{}),
		doneCh:    make(chan struct{}),
		ids:       ids,
	}
	if o.ClusterSecret != "" {
		t.auth = &proto.ClusterAuthVerifier{Secret: o.ClusterSecret}
	}
	t.applyIDsToRegistryLocked()
	addrs := strings.Split(o.BindAddr, ",")
	port := o.Port
	for _, a := range addrs {
		ln, err := net.Listen("tcp", net.JoinHostPort(strings.TrimSpace(a), strconv.Itoa(port)))
		if err != nil {
			for _, l := range t.lns {
				l.Close()
			}
			return nil, fmt.Errorf("tracker: listen: %w", err)
		}
		t.lns = append(t.lns, ln)
		port = ln.Addr().(*net.TCPAddr).Port // port 0: the others share the first's
	}
	if err := t.initRelationship(time.Now()); err != nil {
		for _, l := range t.lns {
			l.Close()
		}
		return nil, fmt.Errorf("tracker: %w", err)
	}
	if err := t.initMetrics(); err != nil {
		for _, l := range t.lns {
			l.Close()
		}
		return nil, fmt.Errorf("tracker: %w", err)
	}
	log.Info().Str("addr", t.Addr().String()).Int("groups", len(reg.groups)).Msg("tracker listening")
	return t, nil
}

// Addr is the (first) listening address.
func (t *Tracker) Addr() net.Addr { return t.lns[0].Addr() }

func (t *Tracker) port() int { return t.lns[0].Addr().(*net.TCPAddr).Port }

// bindIP is the configured bind address, for answers given without a
// connection to take the address from.
func (t *Tracker) bindIP() string {
	if ip := hostIP(t.Addr()); ip != "" && !net.ParseIP(ip).IsUnspecified() {
		return ip
	}
	return "127.0.0.1"
}

// Main serves until Exit. It returns once Exit has finished.
func (t *Tracker) Main() error {
	if !t.started.CompareAndSwap(false, true) {
		return errors.New("tracker: Main called twice")
	}
	select {
	case <-t.exitCh:
		<-t.doneCh
		return nil
	default:
	}
	t.startMetrics()
	t.wg.Add(4 + len(t.lns))
	go func() { defer t.wg.Done(); t.checkActive() }()
	go func() { defer t.wg.Done(); t.saveLoop() }()
	go func() { defer t.wg.Done(); t.relationshipLoop() }()
	go func() { defer t.wg.Done(); t.trunkLoop() }()
	for _, ln := range t.lns {
		go func() { defer t.wg.Done(); t.acceptLoop(ln) }()
	}
	<-t.doneCh
	return nil
}

// Exit closes the listeners and connections, waits for every goroutine and
// saves the registry. It may be called more than once, with or without Main.
func (t *Tracker) Exit() {
	t.exitOnce.Do(func() {
		close(t.exitCh)
		for _, ln := range t.lns {
			ln.Close()
		}
		t.closeMetrics()
		t.connMu.Lock()
		t.closing = true
		for c := range t.conns {
			c.Close()
		}
		t.connMu.Unlock()
		t.wg.Wait()
		if err := t.save(true); err != nil {
			t.log.Error().Err(err).Msg("final save")
		}
		if err := t.saveStatus(); err != nil {
			t.log.Error().Err(err).Msg("save tracker status")
		}
		t.log.Info().Msg("tracker stopped")
		close(t.doneCh)
	})
	<-t.doneCh
}

// tick is the period of the background loops for an interval d.
func tick(d time.Duration) time.Duration {
	return min(max(d/4, 20*time.Millisecond), time.Second)
}

// checkActive applies §4.8 rule 9: ACTIVE storages that have not beaten
// for check_active_interval go OFFLINE.
func (t *Tracker) checkActive() {
	tk := time.NewTicker(tick(t.opts.CheckActiveInterval))
	defer tk.Stop()
	for {
		select {
		case <-t.exitCh:
			return
		case <-tk.C:
		}
		now := time.Now()
		t.mu.Lock()
		for _, g := range t.reg.groups {
			for _, s := range g.Storages {
				if s.Status == proto.StatusActive && now.Sub(s.beatAt) > t.opts.CheckActiveInterval {
					t.reg.setStatus(g, s, proto.StatusOffline)
					t.log.Warn().Str("group", g.Name).Str("storage", s.ID).
						Dur("silent", now.Sub(s.beatAt)).Msg("no heartbeat: OFFLINE")
				}
			}
		}
		t.mu.Unlock()
	}
}

// saveLoop writes the registry at most once per saveInterval when changed.
func (t *Tracker) saveLoop() {
	tk := time.NewTicker(saveInterval)
	defer tk.Stop()
	for {
		select {
		case <-t.exitCh:
			return
		case <-tk.C:
		}
		if err := t.save(false); err != nil {
			t.log.Error().Err(err).Msg("save registry")
		}
	}
}
