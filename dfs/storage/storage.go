// Package storage is the FastDFS-compatible storage server (fdfs_storaged):
// it stores uploaded files under store_pathN/data/HH/HH, serves the client
// commands of §3, reports to every configured tracker (§4) and records its
// own operations in the binlog (§5.1–5.2) for later replication. Section
// numbers (§) refer to docs/protocol.md.
package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"yunpan/conf"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// Storage is one storage server.
type Storage struct {
	opts     *conf.Storage
	log      zerolog.Logger
	ln       net.Listener
	group    string
	paths    []*storePath
	sessions atomic.Uint64 // sessions opened, for spreading temp files
	subdirs  int

	buffSize     int64
	timeout      time.Duration
	connTimeout  time.Duration
	fsyncBytes   int64
	bindIP       string // bind_addr when it is an IP: used in file names
	startTime    time.Time
	dataDir      string // base_path/data
	maxRequest   int64  // buffered requests (header included) must stay below this
	heartBeat    time.Duration
	statReport   time.Duration
	statInterval time.Duration

	binlog *binlog
	stats  *stats
	dist   *distributor
	flag   *initFlag

	params   atomic.Pointer[params] // nil until the first PARAMETER_REQ answer
	myIP     atomic.Pointer[string] // first IP GET_MY_IP returned
	myStatus atomic.Int32           // own status as the trackers last reported it
	cluster  clusterView            // leader and group members from beat responses
	syncMu   sync.Mutex             // process-wide lock around SYNC_DEST_REQ (§4.1 step 3)
	pathRR   atomic.Uint32          // storage-side round-robin cursor over store paths
	locks    [64]sync.Mutex         // striped per-file locks (metadata merge, delete)
	appLocks appenderLocks          // per-name writer locks of appender files (appender.go)
	panics   atomic.Int64           // recovered handler panics
	accErrs  atomic.Int64           // failed Accepts (hardening.go)
	corrupt  atomic.Int64           // downloads refused: content does not match its name's CRC32
	slowCut  atomic.Int64           // connections closed below min_transfer_rate (transfer.go)
	ids      storageIDs             // storage_ids.conf as the tracker lists it (ids.go)
	http     *httpServer            // http.server_port endpoint (http.go); nil when off
	repl     *replication           // replication inside the group (sync*.go, mark.go, replicas.go)
	met      *storageMetrics        // /metrics and the access log (metrics.go)
	scrub    *scrubber              // background CRC32 checks and healing (scrub.go)
	verified verifiedCache          // files whose content matched their name lately (download.go)
	trunk    *trunkRole             // trunk storage: the group's trunk server, our part (trunk_server.go)
	trunkFDs trunkFDs               // trunk files kept open (trunk_fds.go)

	connSem chan struct{}
	mu      sync.Mutex // guards conns, exiting and wg.Add against Exit
	conns   map[net.Conn]struct{}
	exiting bool
	wg      sync.WaitGroup
	exitCh  chan struct{}
	doneCh  chan struct{}
	ctx     context.Context // cancelled by Exit: aborts tracker dials
	cancel  context.CancelFunc
	exitMu  sync.Once
}

// Default values for storage.conf keys whose zero value is unusable (§8.3
// code defaults). A zero port is kept: it means "any free port".
const (
	defBuffSize      = 256 << 10
	defNetTimeout    = 30 * time.Second
	defConnTimeout   = 10 * time.Second
	defHeartBeat     = 30 * time.Second
	defStatReport    = 300 * time.Second
	defMaxConns      = 256
	defSubdirs       = 256
	defRotateCount   = 100
	defBinlogBuffInt = 60 * time.Second
	defStatFileInt   = 60 * time.Second
)

// New validates opts, prepares base_path and the store paths (creating the
// HH/HH directories on first start), loads the persisted state and binds the
// listener. The returned server serves nothing until Main is called.
func New(opts *conf.Storage, log zerolog.Logger) (*Storage, error) {
	if opts == nil {
		return nil, errors.New("storage: nil options")
	}
	if opts.Disabled {
		return nil, errors.New("storage: disabled in config")
	}
	if !fileid.ValidGroup(opts.GroupName) {
		return nil, fmt.Errorf("storage: invalid group_name %q", opts.GroupName)
	}
	if opts.BasePath == "" {
		return nil, errors.New("storage: base_path is required")
	}
	s := &Storage{
		verified:     verifiedCache{ttl: opts.VerifyInterval},
		opts:         opts,
		log:          log,
		group:        opts.GroupName,
		subdirs:      orInt(opts.SubdirCountPerPath, defSubdirs),
		buffSize:     orInt64(opts.BuffSize, defBuffSize),
		timeout:      orDur(opts.NetworkTimeout, defNetTimeout),
		connTimeout:  orDur(opts.ConnectTimeout, defConnTimeout),
		fsyncBytes:   opts.FsyncAfterWrittenBytes,
		startTime:    wallNow(),
		dataDir:      filepath.Join(opts.BasePath, "data"),
		heartBeat:    orDur(opts.HeartBeatInterval, defHeartBeat),
		statReport:   orDur(opts.StatReportInterval, defStatReport),
		statInterval: orDur(opts.SyncStatFileInterval, defStatFileInt),
		conns:        map[net.Conn]struct{}{},
		exitCh:       make(chan struct{}),
		doneCh:       make(chan struct{}),
	}
	s.trunk = newTrunkRole(s)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.subdirs < 1 || s.subdirs > 256 {
		return nil, fmt.Errorf("storage: subdir_count_per_path %d not in 1..256", s.subdirs)
	}
	s.maxRequest = s.buffSize
	s.connSem = make(chan struct{}, orInt(opts.MaxConnections, defMaxConns))
	if ip := net.ParseIP(opts.BindAddr); ip != nil && !ip.IsUnspecified() {
		s.bindIP = canonicalIP(ip)
	}
	var err error
	if s.repl, err = newReplication(s); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}

	storePaths := opts.StorePaths
	if len(storePaths) == 0 {
		storePaths = []string{opts.BasePath}
	}
	if len(storePaths) > 256 {
		return nil, fmt.Errorf("storage: %d store paths, at most 256", len(storePaths))
	}
	if err := os.MkdirAll(filepath.Join(s.dataDir, "sync"), 0o755); err != nil {
		return nil, fmt.Errorf("storage: base path: %w", err)
	}
	for i, p := range storePaths {
		if p == "" {
			return nil, fmt.Errorf("storage: store_path%d is empty", i)
		}
		sp := &storePath{index: i, root: p, dataDir: filepath.Join(p, "data")}
		if i < len(opts.StorePathReadonly) {
			sp.readonly = opts.StorePathReadonly[i]
		}
		s.paths = append(s.paths, sp)
	}
	t0 := time.Now()
	for _, sp := range s.paths {
		if err := makeSubdirs(sp.dataDir, s.subdirs); err != nil {
			return nil, fmt.Errorf("storage: store_path%d: %w", sp.index, err)
		}
		if err := sp.resetTemp(); err != nil {
			return nil, fmt.Errorf("storage: store_path%d: %w", sp.index, err)
		}
		sp.unnamed = !sp.readonly && tmpfileWorks(sp.dataDir)
		sp.copySend = onTmpfs(sp.dataDir)
		log.Debug().Int("store_path", sp.index).Bool("unnamed_files", sp.unnamed).Bool("copy_send", sp.copySend).Msg("how files are written and sent")
	}
	log.Debug().Dur("took", time.Since(t0)).Int("paths", len(s.paths)).Int("subdirs", s.subdirs).Msg("store paths ready")

	if s.flag, err = loadInitFlag(filepath.Join(s.dataDir, ".data_init_flag"), s.startTime); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	s.stats = newStats()
	s.dist = &distributor{subdirs: s.subdirs, rotate: orInt(opts.FileDistributeRotateCount, defRotateCount)}
	if err := loadStatFile(filepath.Join(s.dataDir, "storage_stat.dat"), s.stats, s.dist); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if s.binlog, err = openBinlog(filepath.Join(s.dataDir, "sync"), orDur(opts.SyncBinlogBuffInterval, defBinlogBuffInt), log); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	addr := net.JoinHostPort(opts.BindAddr, strconv.Itoa(opts.Port))
	if s.ln, err = net.Listen("tcp", addr); err != nil {
		s.binlog.Close()
		return nil, fmt.Errorf("storage: listen %s: %w", addr, err)
	}
	if s.http, err = newHTTPServer(s); err != nil {
		s.ln.Close()
		s.binlog.Close()
		return nil, err
	}
	s.scrub = newScrubber(s, opts.ScrubPeriod)
	if err := s.initMetrics(); err != nil {
		s.http.close()
		s.ln.Close()
		s.binlog.Close()
		return nil, err
	}
	log.Info().Str("addr", s.ln.Addr().String()).Str("group", s.group).Int("store_paths", len(s.paths)).Msg("storage listening")
	return s, nil
}

// Addr is the address the listener is bound to.
func (s *Storage) Addr() net.Addr { return s.ln.Addr() }

// Main starts the tracker reporters and the background flushers and serves
// clients until Exit. It returns only after Exit has finished its clean-up,
// so a daemon can exit as soon as Main returns.
func (s *Storage) Main() error {
	if !s.spawn(s.flushLoop) {
		<-s.doneCh
		return nil
	}
	for _, t := range s.opts.TrackerServers {
		r := newReporter(s, t)
		s.spawn(r.run)
	}
	if s.http != nil {
		s.spawn(s.http.serve)
	}
	s.spawn(s.scrub.run)
	s.startMetrics()
	var acceptErr error
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if s.acceptBackoff(err) { // EMFILE and friends (hardening.go)
				continue
			}
			if !s.isExiting() {
				acceptErr = fmt.Errorf("storage: accept: %w", err)
			}
			break
		}
		s.accept(c)
	}
	if acceptErr != nil {
		s.Exit()
	}
	<-s.doneCh
	return acceptErr
}

// Exit stops accepting, closes every connection (an upload in progress is
// abandoned and leaves nothing behind), stops the reporters, flushes the
// binlog and saves the counters. It waits for every goroutine and is safe to
// call more than once.
func (s *Storage) Exit() {
	s.exitMu.Do(func() {
		s.mu.Lock()
		s.exiting = true
		close(s.exitCh)
		s.cancel()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.ln.Close()
		s.http.close()
		s.closeMetrics()
		s.wg.Wait()
		s.trunk.close()
		s.trunkFDs.close()
		if err := s.binlog.Close(); err != nil {
			s.log.Error().Err(err).Msg("binlog close")
		}
		if err := s.saveStat(); err != nil {
			s.log.Error().Err(err).Msg("save storage_stat.dat")
		}
		s.log.Info().Msg("storage stopped")
		close(s.doneCh)
	})
}

func (s *Storage) isExiting() bool {
	select {
	case <-s.exitCh:
		return true
	default:
		return false
	}
}

// spawn runs f in a goroutine that Exit waits for; false once exiting.
func (s *Storage) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exiting {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// track registers a connection so Exit can close it; false once exiting
// (the caller must then close it itself).
func (s *Storage) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exiting {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Storage) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// sleep waits d or until Exit; false when exiting.
func (s *Storage) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.exitCh:
		return false
	case <-t.C:
		return true
	}
}

// flushLoop flushes the binlog every sync_binlog_buff_interval and saves
// storage_stat.dat every sync_stat_file_interval.
func (s *Storage) flushLoop() {
	tick := min(s.binlog.interval, s.statInterval, time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	lastBinlog, lastStat := time.Now(), time.Now()
	for {
		select {
		case <-s.exitCh:
			return
		case now := <-t.C:
			// A binlog that cannot be written is retried at every tick
			// (its back-off decides); its errors are logged by the binlog,
			// once per failure.
			if failing, _, _ := s.binlog.health(); failing || now.Sub(lastBinlog) >= s.binlog.interval {
				lastBinlog = now
				s.binlog.Flush()
			}
			if s.repl != nil {
				s.repl.pruneAcks() // replicas.go
			}
			if now.Sub(lastStat) >= s.statInterval {
				lastStat = now
				if err := s.saveStat(); err != nil {
					s.log.Error().Err(err).Msg("save storage_stat.dat")
				}
			}
		}
	}
}

func (s *Storage) saveStat() error {
	return saveStatFile(filepath.Join(s.dataDir, "storage_stat.dat"), s.stats, s.dist)
}

// fileLock is the striped lock for one logic filename.
func (s *Storage) fileLock(name string) *sync.Mutex {
	var h uint32 = 2166136261
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	return &s.locks[h%uint32(len(s.locks))]
}

// curParams returns the tracker parameters, or the defaults before the
// first answer.
func (s *Storage) curParams() *params {
	if p := s.params.Load(); p != nil {
		return p
	}
	return &defaultParams
}

// sourceIP is the IP put into new file names: bind_addr if it is an IP,
// else what GET_MY_IP returned, else the local address of the client
// connection.
func (s *Storage) sourceIP(c net.Conn) string {
	if s.bindIP != "" {
		return s.bindIP
	}
	if p := s.myIP.Load(); p != nil && *p != "" {
		return *p
	}
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		return canonicalIP(a.IP)
	}
	return ""
}

// sourceID is the numeric server ID for file names when the tracker asks for
// IDs in names (id_type_in_filename=id) and server_id is numeric, else 0.
func (s *Storage) sourceID() uint32 {
	p := s.curParams()
	if !p.useStorageID || p.idTypeInFilename != "id" {
		return 0
	}
	n, err := strconv.ParseUint(s.serverID(), 10, 32)
	if err != nil || n == 0 || n > 0xFFFFFF {
		return 0
	}
	return uint32(n)
}

// canonicalIP prints IPv4 (also IPv4-mapped IPv6) dotted.
func canonicalIP(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}

// parseRemote validates a remote filename against our store paths.
func (s *Storage) parseRemote(remote string) (fileid.Remote, string, error) {
	r, err := fileid.ParseRemote(remote, len(s.paths))
	if err != nil {
		return r, "", err
	}
	return r, filepath.Join(s.paths[r.StorePath].dataDir, filepath.FromSlash(r.RelPath())), nil
}

// checkGroup compares a request's group field with ours (EINVAL otherwise).
func (s *Storage) checkGroup(g string) error {
	if g != s.group {
		return proto.Errf(proto.StatusEINVAL, "group %q is not ours (%s)", g, s.group)
	}
	return nil
}

func orInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func orInt64(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}

func orDur(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}
