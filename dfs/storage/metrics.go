package storage

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"yunpan/dfs/proto"
	"yunpan/internal/metrics"
)

// storageMetrics is what /metrics (metrics_addr, conf/metrics.go) and the
// access log ([access-log] enabled) see of the requests. The stat block
// counters, free space and sync lag are read at scrape time.
type storageMetrics struct {
	reg      *metrics.Registry
	srv      *metrics.Server // nil: no listener
	requests *metrics.CounterVec
	duration *metrics.HistogramVec
	bytesIn  *metrics.Counter
	bytesOut *metrics.Counter
	access   *accessLog // nil: access log off
}

// cmdNames names the storage commands in the access log.
var cmdNames = map[byte]string{
	proto.CmdUploadFile: "upload", proto.CmdUploadAppenderFile: "upload_appender",
	proto.CmdUploadSlaveFile: "upload_slave", proto.CmdDeleteFile: "delete",
	proto.CmdSetMetadata: "set_metadata", proto.CmdGetMetadata: "get_metadata",
	proto.CmdDownloadFile: "download", proto.CmdQueryFileInfo: "query_file_info",
	proto.CmdActiveTest: "active_test", proto.CmdAppendFile: "append",
	proto.CmdModifyFile: "modify", proto.CmdTruncateFile: "truncate",
	proto.CmdRegenerateAppenderFilename: "regenerate_appender_filename",
}

// accessLogName is FastDFS's access log file, in base_path/logs.
const accessLogName = "storage_access.log"

// accessTimeFormat stamps when a request started, in microseconds (FastDFS's
// default [access-log] time_precision).
const accessTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// initMetrics builds the registry, opens the access log when enabled and
// binds metrics_addr when set.
func (s *Storage) initMetrics() error {
	m := &storageMetrics{reg: metrics.NewRegistry()}
	m.requests = m.reg.CounterVec("dfs_storage_requests_total",
		"Requests handled, by command code and status (0 = success, closed = connection dropped).", "cmd", "status")
	m.duration = m.reg.HistogramVec("dfs_storage_request_duration_seconds",
		"Time from the request header to the end of the handler, by command.", metrics.LatencyBuckets, "cmd")
	m.bytesIn = m.reg.Counter("dfs_storage_received_bytes_total", "Request bytes received (headers included).")
	m.bytesOut = m.reg.Counter("dfs_storage_sent_bytes_total", "Response bytes sent or queued (headers and file data included).")
	m.reg.Collect(s.collectMetrics)
	if s.opts.AccessLogEnabled {
		a, err := openAccessLog(filepath.Join(s.opts.BasePath, "logs", accessLogName))
		if err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		m.access = a
	}
	if a := s.opts.MetricsAddr; a != "" {
		srv, err := metrics.Listen(a, m.reg)
		if err != nil {
			m.access.close()
			return fmt.Errorf("storage: %w", err)
		}
		m.srv = srv
		s.log.Info().Str("addr", srv.Addr().String()).Msg("metrics listening")
	}
	s.met = m
	return nil
}

// MetricsAddr is the bound metrics listener, nil when metrics_addr is off.
func (s *Storage) MetricsAddr() net.Addr {
	if s.met == nil || s.met.srv == nil {
		return nil
	}
	return s.met.srv.Addr()
}

// startMetrics serves the metrics listener (Main).
func (s *Storage) startMetrics() {
	if s.met == nil || s.met.srv == nil {
		return
	}
	srv := s.met.srv
	s.spawn(func() {
		if err := srv.Serve(); err != nil {
			s.log.Error().Err(err).Msg("metrics listener")
		}
	})
}

// closeMetrics stops the listener and the access log (Exit).
func (s *Storage) closeMetrics() {
	if s.met == nil {
		return
	}
	if s.met.srv != nil {
		s.met.srv.Close()
	}
	s.met.access.close()
}

// observe counts one handled request and writes its access log line.
func (s *Storage) observe(sess *session, h proto.Header, start time.Time, rep *reply, err error) {
	m := s.met
	if m == nil {
		return
	}
	d := time.Since(start)
	status := metrics.Byte(0)
	out := int64(proto.HeaderSize)
	switch {
	case errors.Is(err, errAbort):
		status, out = "closed", 0
	case err != nil:
		st := proto.StatusOf(err)
		if st == 0 {
			st = proto.StatusEIO // what fail answers
		}
		status = metrics.Byte(st)
	case rep != nil:
		out += int64(len(rep.body)) + rep.n
	}
	in := proto.HeaderSize + h.PkgLen
	if sess.body != nil && h.PkgLen > 0 {
		in -= sess.body.N // a handler that stopped early did not read it all
	}
	cmd := metrics.Byte(h.Cmd)
	m.requests.With(cmd, status).Inc()
	m.duration.With(cmd).Observe(d.Seconds())
	m.bytesIn.Add(float64(in))
	m.bytesOut.Add(float64(out))
	if m.access != nil {
		name := cmdNames[h.Cmd]
		if name == "" {
			name = "cmd_" + cmd
		}
		m.access.log.Log().Str("time", start.UTC().Format(accessTimeFormat)).Str("peer", sess.c.RemoteAddr().String()).Str("op", name).Uint8("cmd", h.Cmd).
			Str("status", status).Int64("in", in).Int64("out", out).
			Float64("ms", float64(d.Microseconds())/1000).Msg("")
	}
}

// collectMetrics adds the stat block, connections, disks and replication
// state at scrape time.
func (s *Storage) collectMetrics(set *metrics.Set) {
	st := s.stats
	for i, name := range proto.StatCounterNames {
		switch i {
		case proto.StatLastSyncedTimestamp, proto.StatLastHeartBeatTime:
			continue
		case proto.StatLastSourceUpdate, proto.StatLastSyncUpdate:
			if v := st.get(i); v > 0 {
				set.Gauge("dfs_storage_"+name+"_timestamp_seconds", "Stat block "+name+" (Unix time).", float64(v))
			}
			continue
		}
		// total_upload_count → dfs_storage_upload_total{result="all"},
		// success_upload_bytes → dfs_storage_upload_bytes_total{result="success"}.
		result, rest, _ := strings.Cut(name, "_")
		if result == "total" {
			result = "all"
		}
		set.Counter("dfs_storage_"+strings.TrimSuffix(rest, "_count")+"_total",
			"Stat block counters total_"+rest+" (result=all) and success_"+rest+" (result=success).",
			float64(st.get(i)), "result", result)
	}
	set.Gauge("dfs_storage_connections", "Client connections open now.", float64(st.connCurrent.Load()))
	set.Gauge("dfs_storage_connections_max", "Most client connections open at once since start.", float64(st.connMax.Load()))
	set.Counter("dfs_storage_connections_accepted_total", "Client connections served since start.", float64(s.sessions.Load()))
	set.Gauge("dfs_storage_max_connections", "max_connections.", float64(cap(s.connSem)))
	set.Counter("dfs_storage_handler_panics_total", "Request handler panics recovered.", float64(s.panics.Load()))
	set.Counter("dfs_storage_slow_transfers_closed_total", "Connections closed because a body or download fell below min_transfer_rate.", float64(s.slowCut.Load()))
	set.Counter("dfs_storage_scrub_checked_files_total", "Files read and checked against the CRC32 in their names by the scrubber.", float64(s.scrub.checked.Load()))
	set.Counter("dfs_storage_scrub_damaged_total", "Files found damaged on disk by the scrubber or a download.", float64(s.scrub.damaged.Load()))
	set.Counter("dfs_storage_scrub_healed_total", "Damaged files replaced by a verified copy from another storage of the group.", float64(s.scrub.healed.Load()))
	set.Gauge("dfs_storage_start_time_seconds", "When this process started (Unix time).", float64(s.startTime.Unix()))
	if my := s.myStatus.Load(); my > 0 {
		set.Gauge("dfs_storage_status", "Own status as the trackers last reported it (FastDFS code).", float64(my))
	}
	for _, sp := range s.paths {
		total, free, err := diskUsage(sp.dataDir)
		if err != nil {
			continue
		}
		idx := strconv.Itoa(sp.index)
		set.Gauge("dfs_storage_store_path_total_mb", "Size of the file system of a store path (MB).", float64(total), "path", idx, "dir", sp.root)
		set.Gauge("dfs_storage_store_path_free_mb", "Free space available of a store path (MB).", float64(free), "path", idx, "dir", sp.root)
	}
	s.collectSync(set)
}

// collectSync adds per peer: how far the push is behind (bytes of binlog not
// yet consumed and the age of the oldest unconsumed record), and per
// source: the newest timestamp received from it. The push position is the
// one in the peer's mark file, which the sync goroutine saves whenever it
// is idle and every write_mark_file_freq records, so it lags by at most
// that much while a backlog is being pushed.
func (s *Storage) collectSync(set *metrics.Set) {
	r := s.repl
	if r == nil {
		return
	}
	r.mu.Lock()
	peers := make([]*syncer, 0, len(r.syncers))
	for _, sy := range r.syncers {
		peers = append(peers, sy)
	}
	r.mu.Unlock()
	useIDs := s.curParams().useStorageID
	now := time.Now()
	for _, sy := range peers {
		b := sy.brief()
		addr := net.JoinHostPort(b.IP, strconv.Itoa(int(b.Port)))
		set.Gauge("dfs_storage_sync_peer_status", "Peer status in the leader's last group list (FastDFS code).", float64(sy.destStatus()),
			"peer", b.ID, "addr", addr)
		m, err := loadMark(filepath.Join(s.dataDir, "sync", markFileName(useIDs, b.ID, b.IP, int(b.Port))))
		if err != nil || m == nil {
			continue // no cursor yet: the peer has not been set up for pushing
		}
		behind, age := s.binlogLag(m.BinlogIndex, m.BinlogOffset, now)
		set.Gauge("dfs_storage_sync_lag_bytes", "Binlog bytes not yet pushed to a peer.", float64(behind), "peer", b.ID, "addr", addr)
		set.Gauge("dfs_storage_sync_lag_seconds", "Age of the oldest binlog record not yet pushed to a peer (0 when caught up).",
			age, "peer", b.ID, "addr", addr)
		set.Counter("dfs_storage_sync_pushed_records_total", "Binlog records pushed to a peer (sync_row_count).",
			float64(m.SyncRowCount), "peer", b.ID, "addr", addr)
	}
	ts, _ := r.syncedSnapshot()
	for src, v := range ts {
		set.Gauge("dfs_storage_sync_received_timestamp_seconds", "Newest record timestamp received from a source storage.",
			float64(v), "source", src)
	}
	bi, bsize := s.binlogEnd()
	set.Gauge("dfs_storage_binlog_index", "Binlog file being written (binlog.NNN).", float64(bi))
	set.Gauge("dfs_storage_binlog_offset_bytes", "Size of the binlog file being written, cached records included.", float64(bsize))
	failing, pending, errs := s.binlog.health()
	set.Gauge("dfs_storage_binlog_write_failing", "1 while the binlog cannot be written (records wait in memory, replication of new changes stops) or cannot start its next file.", b2f(failing))
	set.Gauge("dfs_storage_binlog_pending_bytes", "Binlog records waiting in memory for the file.", float64(pending))
	set.Counter("dfs_storage_binlog_write_errors_total", "Failed attempts to open, write or fsync the binlog file.", float64(errs))
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// binlogEnd is the write position: current index and its size including
// records still in the write cache.
func (s *Storage) binlogEnd() (int, int64) {
	b := s.binlog
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.index, b.size + int64(len(b.buf))
}

// binlogLag measures the binlog after (index, offset): its size and the
// age of the record there.
func (s *Storage) binlogLag(index int, offset int64, now time.Time) (int64, float64) {
	b := s.binlog
	b.mu.Lock()
	curIndex, curSize := b.index, b.size
	cached := append([]byte(nil), b.buf...)
	b.mu.Unlock()
	if index > curIndex || index < 0 || offset < 0 {
		return 0, 0
	}
	var behind int64
	for i := index; i < curIndex; i++ {
		fi, err := os.Stat(filepath.Join(b.dir, binlogName(i)))
		if err == nil {
			behind += fi.Size()
		}
	}
	behind += curSize + int64(len(cached)) - offset
	if behind <= 0 {
		return 0, 0
	}
	var head []byte
	if index == curIndex && offset >= curSize {
		if k := offset - curSize; k < int64(len(cached)) {
			head = cached[k:]
		}
	} else if f, err := os.Open(filepath.Join(b.dir, binlogName(index))); err == nil {
		buf := make([]byte, 32)
		n, _ := f.ReadAt(buf, offset)
		f.Close()
		head = buf[:n]
	}
	if sp := bytes.IndexByte(head, ' '); sp > 0 {
		if ts, err := strconv.ParseInt(string(head[:sp]), 10, 64); err == nil && ts > 0 {
			return behind, max(now.Sub(time.Unix(ts, 0)).Seconds(), 0)
		}
	}
	return behind, 0
}

// accessLog writes one JSON line per request to storage_access.log. Writes
// after close are dropped silently.
type accessLog struct {
	mu     sync.Mutex
	f      *os.File
	closed bool
	log    zerolog.Logger
}

func openAccessLog(path string) (*accessLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	a := &accessLog{f: f}
	a.log = zerolog.New(a)
	return a, nil
}

// Write is one event (zerolog writes each in a single call).
func (a *accessLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return len(p), nil
	}
	return a.f.Write(p)
}

func (a *accessLog) close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.closed {
		a.closed = true
		a.f.Close()
	}
}
