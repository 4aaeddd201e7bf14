package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"yunpan/conf"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// httpServer is the storage's small HTTP endpoint (http.server_port) for what
// Nginx cannot do alone: the anti-steal token check Nginx asks with
// auth_request (GET /auth), and GET /<group>/Mxx/HH/HH/<name> for files Nginx
// did not find on this disk. Such a file is served from disk when it is there
// by now, else fetched with DOWNLOAD_FILE from another storage of the group
// (a replica that has not received it yet).
type httpServer struct {
	s        *Storage
	cfg      conf.StorageHTTP
	log      zerolog.Logger
	ln       net.Listener
	srv      *http.Server
	types    map[string]string // lower-case extension → media type; nil = Go's table
	sem      chan struct{}     // bounds concurrent requests
	mu       sync.Mutex        // guards closed and inflight.Add against close
	closed   bool
	inflight sync.WaitGroup
}

const (
	httpMaxHeader   = 16 << 10
	httpQueueWait   = 2 * time.Second // a request waits this long for a free slot, then 503
	httpMaxPeers    = 3               // storages asked for a file this one lacks
	httpCopyBuf     = 256 << 10
	httpMimeMaxSize = 1 << 20
	httpFileInfoLen = 8 + 8 + 8 // size, mtime, crc32 of the QUERY_FILE_INFO answer
	nginxMimeTypes  = "/etc/nginx/mime.types"
)

// HTTPFallbackHeader marks a response whose bytes came from another storage
// of the group (this one did not hold the file).
const HTTPFallbackHeader = "X-DFS-Fallback"

// newHTTPServer binds the HTTP listener when http.server_port > 0; nil, nil
// when the endpoint is off.
func newHTTPServer(s *Storage) (*httpServer, error) {
	cfg := s.opts.HTTP
	if cfg.ServerPort <= 0 {
		return nil, nil
	}
	cfg.TokenTTL = orDur(cfg.TokenTTL, conf.DefaultTokenTTL)
	if cfg.DefaultContentType == "" {
		cfg.DefaultContentType = conf.DefaultContentType
	}
	if cfg.CheckToken && cfg.SecretKey == "" {
		return nil, errors.New("storage: http.anti_steal.check_token needs http.anti_steal.secret_key")
	}
	types, err := loadMimeTypes(cfg.MimeTypesFilename)
	if err != nil {
		return nil, fmt.Errorf("storage: http.mime_types_filename: %w", err)
	}
	h := &httpServer{
		s:     s,
		cfg:   cfg,
		log:   s.log.With().Str("part", "http").Logger(),
		types: types,
		sem:   make(chan struct{}, orInt(s.opts.MaxConnections, defMaxConns)),
	}
	bind := cfg.BindAddr
	if bind == "" {
		bind = s.opts.BindAddr
	}
	addr := net.JoinHostPort(bind, strconv.Itoa(cfg.ServerPort))
	if h.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("storage: http listen %s: %w", addr, err)
	}
	h.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.timeout,
		ReadTimeout:       s.timeout,
		IdleTimeout:       s.timeout,
		MaxHeaderBytes:    httpMaxHeader,
		ErrorLog:          log.New(httpLogWriter{h.log}, "", 0),
		// Exit cancels s.ctx, which aborts fetches from other storages.
		BaseContext: func(net.Listener) context.Context { return s.ctx },
	}
	h.log.Info().Str("addr", h.ln.Addr().String()).Bool("check_token", cfg.CheckToken).Msg("http endpoint listening")
	return h, nil
}

// HTTPAddr is the address of the HTTP endpoint, nil when http.server_port is 0.
func (s *Storage) HTTPAddr() net.Addr {
	if s.http == nil {
		return nil
	}
	return s.http.ln.Addr()
}

// serve runs until close.
func (h *httpServer) serve() {
	if err := h.srv.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		h.log.Error().Err(err).Msg("http serve")
	}
}

// close stops the listener and every connection and waits for the handlers
// (Exit has cancelled their context already). Safe on a nil server.
func (h *httpServer) close() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.srv.Close()
	h.ln.Close() // in case Serve never ran
	h.inflight.Wait()
}

func (h *httpServer) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.inflight.Add(1)
	return true
}

// ServeHTTP bounds concurrency and arms the deadlines, then routes.
func (h *httpServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.enter() {
		httpError(w, http.StatusServiceUnavailable)
		return
	}
	defer h.inflight.Done()
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.s.panics.Add(1)
			h.log.Error().Interface("panic", v).Str("uri", httpClip(r.RequestURI)).Msg("http handler panic")
			panic(http.ErrAbortHandler) // the response may be half written: drop the connection
		}
	}()
	select {
	case h.sem <- struct{}{}:
	default:
		t := time.NewTimer(httpQueueWait)
		select {
		case h.sem <- struct{}{}:
			t.Stop()
		case <-t.C:
			w.Header().Set("Retry-After", "1")
			httpError(w, http.StatusServiceUnavailable)
			return
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	defer func() { <-h.sem }()
	rc := http.NewResponseController(w)
	// The request (no body) has been read. Without this, ReadTimeout would
	// cancel the context of a long download half-way; writes have their own
	// rolling deadline instead.
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Now().Add(h.s.timeout))
	h.route(&httpDeadlineWriter{ResponseWriter: w, rc: rc, d: h.s.timeout}, r)
}

func (h *httpServer) route(w http.ResponseWriter, r *http.Request) {
	// Files are user content: a browser must never run one as a page of
	// this origin (an uploaded .html or .svg with a script), nor guess a
	// type other than the one sent. The Nginx locations say the same.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "sandbox")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/auth" {
		h.auth(w, r)
		return
	}
	remote, status := h.parseURLPath(r.URL.Path)
	if status != 0 {
		httpError(w, status)
		return
	}
	if h.cfg.CheckToken {
		q, _ := url.ParseQuery(r.URL.RawQuery)
		if err := CheckHTTPToken(remote, q.Get("token"), q.Get("ts"), h.cfg.SecretKey, h.cfg.TokenTTL, wallNow()); err != nil {
			h.tokenFailed(w, r, err)
			return
		}
	}
	h.serveFile(w, r, remote)
}

// parseURLPath maps "/<group>/<remote>" to the remote filename: 404 for
// another group or a path of another shape, 400 for a remote filename the
// storage would refuse (fileid.ParseRemote: no "..", no '/' in the name,
// store path index in range), so nothing outside a store path is reachable.
func (h *httpServer) parseURLPath(p string) (remote string, status int) {
	rest, ok := strings.CutPrefix(p, "/")
	if !ok {
		return "", http.StatusBadRequest
	}
	group, remote, ok := strings.Cut(rest, "/")
	if !ok || !fileid.ValidGroup(group) || group != h.s.group {
		return "", http.StatusNotFound
	}
	if _, err := fileid.ParseRemote(remote, len(h.s.paths)); err != nil {
		return "", http.StatusBadRequest
	}
	return remote, 0
}

// auth answers Nginx's auth_request: 204 when the token of the original
// request is valid (or checking is off), 403 otherwise. The original URI
// comes from ?uri= or the X-Original-URI header. docs/protocol.md §10 has the Nginx
// module answer 400 when token or ts is missing; we answer 403 for every
// failure because auth_request turns any other status into a 500.
func (h *httpServer) auth(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.CheckToken {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	orig := r.URL.Query().Get("uri")
	if orig == "" {
		orig = r.Header.Get("X-Original-URI")
	}
	u, err := url.ParseRequestURI(orig)
	if err != nil {
		h.deny(w, "bad uri")
		return
	}
	remote, status := h.parseURLPath(u.Path)
	if status != 0 {
		h.deny(w, "bad path")
		return
	}
	q, _ := url.ParseQuery(u.RawQuery)
	if err := CheckHTTPToken(remote, q.Get("token"), q.Get("ts"), h.cfg.SecretKey, h.cfg.TokenTTL, wallNow()); err != nil {
		h.deny(w, tokenReason(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *httpServer) deny(w http.ResponseWriter, reason string) {
	w.Header().Set("X-DFS-Token", reason)
	httpError(w, http.StatusForbidden)
}

func tokenReason(err error) string {
	switch proto.StatusOf(err) {
	case proto.StatusETIMEDOUT:
		return "expired"
	case proto.StatusEPERM:
		return "invalid"
	}
	return "missing or malformed"
}

// tokenFailed answers a download whose token failed: the file named by
// http.anti_steal.token_check_fail with status 200 when one is configured
// (docs/protocol.md §10), else 403.
func (h *httpServer) tokenFailed(w http.ResponseWriter, r *http.Request, err error) {
	if h.cfg.TokenCheckFail != "" {
		if f, ferr := os.Open(h.cfg.TokenCheckFail); ferr == nil {
			defer f.Close()
			if fi, ferr := f.Stat(); ferr == nil && fi.Mode().IsRegular() {
				w.Header().Set("Content-Type", h.contentType(fi.Name()))
				w.Header().Set("Cache-Control", "no-store")
				r.Header.Del("Range")
				http.ServeContent(w, r, "", fi.ModTime(), f)
				return
			}
		}
		h.log.Warn().Str("file", h.cfg.TokenCheckFail).Msg("http.anti_steal.token_check_fail is not a readable file")
	}
	h.deny(w, tokenReason(err))
}

// serveFile sends remote from this storage's disk, or from another storage
// of the group when it is not here.
func (h *httpServer) serveFile(w http.ResponseWriter, r *http.Request, remote string) {
	_, path, err := h.s.parseRemote(remote)
	if err != nil {
		httpError(w, http.StatusBadRequest)
		return
	}
	if !h.cfg.MultiRange && strings.Contains(r.Header.Get("Range"), ",") {
		r.Header.Del("Range") // http.multi_range.enabled=false: whole file
	}
	if ref, ok, err := h.s.trunkRefOf(remote); ok {
		if err != nil {
			httpError(w, http.StatusBadRequest)
			return
		}
		h.serveTrunk(w, r, ref)
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		h.serveRemote(w, r, remote)
		return
	}
	if err != nil {
		h.log.Warn().Err(err).Str("file", remote).Msg("http open")
		httpError(w, http.StatusInternalServerError)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		httpError(w, http.StatusNotFound)
		return
	}
	if !h.intact(remote, f, fi) {
		httpError(w, http.StatusInternalServerError)
		return
	}
	h.setFileHeaders(w, r, remote)
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// serveTrunk sends a trunk-resident file from its slot.
func (h *httpServer) serveTrunk(w http.ResponseWriter, r *http.Request, ref *trunkRef) {
	f, hdr, err := h.s.openSlot(ref)
	if proto.StatusOf(err) == proto.StatusENOENT {
		h.serveRemote(w, r, ref.remote)
		return
	}
	if err != nil {
		h.log.Warn().Err(err).Str("file", ref.remote).Msg("http open")
		httpError(w, http.StatusInternalServerError)
		return
	}
	defer f.Close()
	if err := h.s.trunkIntact(ref, int(f.Fd()), hdr); err != nil {
		h.log.Warn().Err(err).Str("file", ref.remote).Msg("http: not served")
		httpError(w, http.StatusInternalServerError)
		return
	}
	h.setFileHeaders(w, r, ref.remote)
	content := io.NewSectionReader(f, int64(ref.slot.off)+trunkHeaderLen, int64(hdr.fileSize))
	http.ServeContent(w, r, "", time.Unix(int64(hdr.mtime), 0), content)
}

// intact checks a normal file against the CRC32 in its name before it is
// served, as downloads are (download.go): files up to verifyMaxSize, once
// per version (the range cache). A damaged file is logged, counted and
// handed to the scrubber.
func (h *httpServer) intact(remote string, f *os.File, fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	if _, checked := nameCRC(remote, fi.Size()); !checked {
		return true
	}
	stamp := fileStamp{ino: st.Ino, ctime: st.Ctim.Nano(), size: fi.Size()}
	if h.s.verified.seen(remote, stamp) {
		return true
	}
	if err := h.s.verifyWhole(remote, int(f.Fd()), fi.Size()); err != nil {
		h.log.Warn().Err(err).Str("file", remote).Msg("http: not served")
		return false
	}
	h.s.verified.add(remote, stamp)
	return true
}

// setFileHeaders sets Content-Type from the extension and the
// Content-Disposition asked for with ?attachment= or ?filename=.
func (h *httpServer) setFileHeaders(w http.ResponseWriter, r *http.Request, remote string) {
	w.Header().Set("Content-Type", h.contentType(remote))
	if d := HTTPDisposition(r.URL.RawQuery); d != "" {
		w.Header().Set("Content-Disposition", d)
	}
}

// serveRemote fetches remote from the storages that should hold it.
func (h *httpServer) serveRemote(w http.ResponseWriter, r *http.Request, remote string) {
	info, _, err := fileid.Decode(remote)
	if err != nil {
		httpError(w, http.StatusNotFound)
		return
	}
	peers := h.peers(info)
	notFound := true
	for i, addr := range peers {
		if i == httpMaxPeers {
			break
		}
		done, err := h.fromPeer(w, r, addr, remote)
		if done {
			if err != nil {
				h.log.Warn().Err(err).Str("peer", addr).Str("file", remote).Msg("http fallback aborted")
			}
			return
		}
		if r.Context().Err() != nil {
			return
		}
		if proto.StatusOf(err) != proto.StatusENOENT {
			notFound = false
			h.log.Warn().Err(err).Str("peer", addr).Str("file", remote).Msg("http fallback")
		}
	}
	if notFound {
		httpError(w, http.StatusNotFound)
		return
	}
	httpError(w, http.StatusBadGateway)
}

// peers lists the storages worth asking for a file this one lacks: the
// source storage named in the file ID first, then the other ACTIVE members
// of the group the trackers told us about. Before the first beat answer
// there is no member list; then the source IP with our own port is tried
// (FastDFS runs a group's storages on one port).
func (h *httpServer) peers(info fileid.Info) []string {
	s := h.s
	ownPort := s.ln.Addr().(*net.TCPAddr).Port
	myIP := ""
	if p := s.myIP.Load(); p != nil {
		myIP = *p
	}
	myID := s.myID()
	self := func(b proto.StorageBrief) bool {
		return int(b.Port) == ownPort && (b.IP == s.bindIP || b.IP == myIP || (myID != "" && b.ID == myID))
	}
	_, members := s.cluster.snapshot()
	var src, others []string
	for _, m := range members {
		if self(m) || m.IP == "" || m.Port <= 0 {
			continue
		}
		switch m.Status {
		case proto.StatusOffline, proto.StatusDeleted, proto.StatusIPChanged:
			continue
		}
		addr := net.JoinHostPort(m.IP, strconv.Itoa(int(m.Port)))
		isSrc := (info.SourceIP != "" && m.IP == info.SourceIP) ||
			(info.SourceID != 0 && m.ID == strconv.FormatUint(uint64(info.SourceID), 10))
		switch {
		case isSrc:
			src = append(src, addr)
		case m.Status == proto.StatusActive:
			others = append(others, addr)
		}
	}
	if len(members) == 0 && info.SourceIP != "" && info.SourceIP != s.bindIP && info.SourceIP != myIP {
		src = append(src, net.JoinHostPort(info.SourceIP, strconv.Itoa(ownPort)))
	}
	return append(src, others...)
}

// fromPeer serves remote from the storage at addr: QUERY_FILE_INFO for the
// size, then DOWNLOAD_FILE of the requested range, streamed. done is false
// when nothing was written yet, so the caller may try another storage.
func (h *httpServer) fromPeer(w http.ResponseWriter, r *http.Request, addr, remote string) (done bool, err error) {
	ctx := r.Context()
	d := net.Dialer{Timeout: h.s.connTimeout}
	if h.s.bindIP != "" && h.s.opts.ClientBind {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(h.s.bindIP)}
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	pc := &peerConn{c: c, d: h.s.timeout}

	req := (&proto.Buf{}).Fixed(h.s.group, proto.GroupNameLen).String(remote).B
	// Flags: no CRC32 computation, no log line for a missing file (§3.9).
	if err := proto.WritePacket(pc, proto.CmdQueryFileInfo, 1|2, req); err != nil {
		return false, fmt.Errorf("query file info: %w", err)
	}
	body, err := proto.ReadResponse(pc, 128)
	if err != nil {
		return false, fmt.Errorf("query file info: %w", err)
	}
	if len(body) < httpFileInfoLen {
		return false, fmt.Errorf("query file info: %d byte answer", len(body))
	}
	size, mtime := proto.I64(body[0:8]), proto.I64(body[8:16])
	if size < 0 {
		return false, fmt.Errorf("query file info: size %d", size)
	}

	hdr := w.Header()
	off, n, status := httpRange(r, size)
	if status == http.StatusRequestedRangeNotSatisfiable {
		hdr.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		httpError(w, status)
		return true, nil
	}
	h.setFileHeaders(w, r, remote)
	hdr.Set(HTTPFallbackHeader, "1")
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("Last-Modified", time.Unix(mtime, 0).UTC().Format(http.TimeFormat))
	hdr.Set("Content-Length", strconv.FormatInt(n, 10))
	if status == http.StatusPartialContent {
		hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, size))
	}
	if r.Method == http.MethodHead || n == 0 {
		w.WriteHeader(status)
		return true, nil
	}
	dl := (&proto.Buf{}).I64(off).I64(n).Fixed(h.s.group, proto.GroupNameLen).String(remote).B
	if err := proto.WritePacket(pc, proto.CmdDownloadFile, 0, dl); err != nil {
		return false, fmt.Errorf("download: %w", err)
	}
	rh, err := proto.ReadHeader(pc)
	switch {
	case err != nil:
		return false, fmt.Errorf("download: %w", err)
	case rh.Status != 0:
		return false, fmt.Errorf("download: %w", proto.StatusError(rh.Status))
	case rh.PkgLen != n:
		return false, fmt.Errorf("download: %d bytes announced, want %d (file changed?)", rh.PkgLen, n)
	}
	w.WriteHeader(status)
	buf := make([]byte, httpCopyBuf)
	if _, err := io.CopyBuffer(w, io.LimitReader(pc, n), buf); err != nil {
		// The declared length was not reached: net/http closes the connection.
		return true, fmt.Errorf("stream: %w", err)
	}
	return true, nil
}

// httpRange resolves the Range header of r for a file of size bytes into
// the bytes to send and the status: 200 (whole file), 206 (one range) or
// 416. Several ranges, or an If-Range, get the whole file (RFC 9110 lets a
// server ignore Range); a malformed header gets 416 as http.ServeContent
// answers it.
func httpRange(r *http.Request, size int64) (off, n int64, status int) {
	spec := r.Header.Get("Range")
	if spec == "" || r.Header.Get("If-Range") != "" {
		return 0, size, http.StatusOK
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(spec), "bytes=")
	if !ok {
		return 0, 0, http.StatusRequestedRangeNotSatisfiable
	}
	if strings.Contains(rest, ",") {
		return 0, size, http.StatusOK
	}
	first, last, ok := strings.Cut(strings.TrimSpace(rest), "-")
	if !ok {
		return 0, 0, http.StatusRequestedRangeNotSatisfiable
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	num := func(s string) (int64, bool) {
		if s == "" || strings.Trim(s, "0123456789") != "" {
			return 0, false
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil
	}
	if first == "" { // suffix: the last N bytes
		k, ok := num(last)
		if !ok || k == 0 || size == 0 {
			return 0, 0, http.StatusRequestedRangeNotSatisfiable
		}
		k = min(k, size)
		return size - k, k, http.StatusPartialContent
	}
	a, ok := num(first)
	if !ok || a >= size {
		return 0, 0, http.StatusRequestedRangeNotSatisfiable
	}
	end := size - 1
	if last != "" {
		b, ok := num(last)
		if !ok || b < a {
			return 0, 0, http.StatusRequestedRangeNotSatisfiable
		}
		end = min(b, end)
	}
	return a, end - a + 1, http.StatusPartialContent
}

// contentType is the media type for a file name's extension (the text
// after the last '.', case-insensitive, as Nginx looks it up), else
// http.default_content_type.
func (h *httpServer) contentType(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	i := strings.LastIndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return h.cfg.DefaultContentType
	}
	ext := strings.ToLower(name[i+1:])
	if h.types != nil {
		if t, ok := h.types[ext]; ok {
			return t
		}
		return h.cfg.DefaultContentType
	}
	if t := mime.TypeByExtension("." + ext); t != "" {
		return t
	}
	return h.cfg.DefaultContentType
}

// loadMimeTypes reads a mime.types file in Nginx's form ("types { type
// ext ext; … }") or Apache's ("type ext ext" lines). "" means Nginx's
// /etc/nginx/mime.types when it exists, so that this endpoint and Nginx
// agree, else nil (Go's built-in table).
func loadMimeTypes(path string) (map[string]string, error) {
	explicit := path != ""
	if !explicit {
		path = nginxMimeTypes
	}
	f, err := os.Open(path)
	if err != nil {
		if !explicit {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	types := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(f, httpMimeMaxSize))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, entry := range strings.Split(line, ";") {
			fl := strings.Fields(entry)
			if len(fl) < 2 || !strings.Contains(fl[0], "/") {
				continue // "types {", "}", blank
			}
			for _, ext := range fl[1:] {
				ext = strings.ToLower(ext)
				if _, dup := types[ext]; !dup { // Nginx keeps the first
					types[ext] = fl[0]
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return types, nil
}

var (
	// A name that can go into filename="…" as is.
	httpPlainName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)
	// A percent-encoded (UTF-8) name, for filename*=UTF-8''….
	httpEncodedName = regexp.MustCompile(`^[A-Za-z0-9%._~-]{1,600}$`)
)

// HTTPDisposition is the Content-Disposition for a download URL's raw query:
// ?attachment=<name> (or ?filename=<name>) asks the browser to save the file.
// A plain name gives `attachment; filename="<name>"`, a percent-encoded one
// the RFC 8187 form (filename*= then UTF-8, two apostrophes and the name),
// anything else a bare `attachment`;
// no (or an empty) parameter gives "". The values are taken raw, the first
// occurrence, names case-insensitive, exactly as the Nginx config does it.
func HTTPDisposition(rawQuery string) string {
	v := httpRawArg(rawQuery, "attachment")
	if v == "" {
		v = httpRawArg(rawQuery, "filename")
	}
	switch {
	case v == "":
		return ""
	case httpPlainName.MatchString(v):
		return `attachment; filename="` + v + `"`
	case httpEncodedName.MatchString(v):
		return "attachment; filename*=UTF-8''" + v
	}
	return "attachment"
}

// httpRawArg is Nginx's $arg_<name>: the undecoded value of the first
// name=value pair of the query whose name matches, case-insensitively.
func httpRawArg(rawQuery, name string) string {
	for pair := range strings.SplitSeq(rawQuery, "&") {
		k, v, ok := strings.Cut(pair, "=")
		if ok && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func httpError(w http.ResponseWriter, status int) {
	http.Error(w, http.StatusText(status), status)
}

func httpClip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// httpDeadlineWriter moves the connection's write deadline forward before
// every write, so a stalled client is dropped after network_timeout while a
// long download keeps going.
type httpDeadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *httpDeadlineWriter) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.ResponseWriter.Write(p)
}

func (w *httpDeadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// peerConn arms a fresh deadline before every read and write on a
// connection to another storage (the HTTP fallback, the scrubber's fetch).
type peerConn struct {
	c net.Conn
	d time.Duration
}

func (p *peerConn) Read(b []byte) (int, error) {
	p.c.SetReadDeadline(time.Now().Add(p.d))
	return p.c.Read(b)
}

func (p *peerConn) Write(b []byte) (int, error) {
	p.c.SetWriteDeadline(time.Now().Add(p.d))
	return p.c.Write(b)
}

// httpLogWriter sends net/http's own messages (TLS probes, bad requests)
// to the log at debug level.
type httpLogWriter struct{ log zerolog.Logger }

func (l httpLogWriter) Write(p []byte) (int, error) {
	l.log.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
