package storage

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	"yunpan/dfs/internal/quickack"
	"yunpan/dfs/proto"
)

// errAbort marks a request after which nothing sensible can be answered (the
// client vanished or sent a short body): the connection is closed without a
// reply.
var errAbort = errors.New("connection aborted")

// reply is a successful answer: body, then optionally n bytes of file from
// off, streamed.
type reply struct {
	body []byte
	file *os.File
	off  int64
	n    int64
	// framed, when set, holds the whole answer: HeaderSize bytes left for
	// the header, then the n bytes of file; it goes back with putBuf.
	framed *[]byte
	// crc, when set, is the CRC32 the whole file (off 0, n bytes) must
	// have; remote names it in the log.
	crc    *uint32
	remote string
	// copy: file is sent by pread and write, not sendfile (sendCopy).
	copy bool
}

// handler serves one command. Buffered handlers get the whole body (the
// request must fit buff_size); streamed ones read sess.body themselves.
type handler struct {
	buffered bool
	logs     bool // writes binlog records: refused while the binlog cannot take them (binlog.go)
	fn       func(sess *session, h proto.Header, body []byte) (*reply, error)
}

// handlers is the dispatch table. Commands not listed are answered EINVAL
// and the connection is closed (docs/protocol.md §1.5).
var handlers = map[byte]handler{
	proto.CmdUploadFile:         {logs: true, fn: (*session).upload},
	proto.CmdUploadAppenderFile: {logs: true, fn: (*session).uploadAppender},
	proto.CmdDeleteFile:         {logs: true, buffered: true, fn: (*session).deleteFile},
	proto.CmdSetMetadata:        {logs: true, buffered: true, fn: (*session).setMetadata},
	proto.CmdDownloadFile:       {buffered: true, fn: (*session).download},
	proto.CmdGetMetadata:        {buffered: true, fn: (*session).getMetadata},
	proto.CmdQueryFileInfo:      {buffered: true, fn: (*session).queryFileInfo},
	proto.CmdActiveTest:         {buffered: true, fn: (*session).activeTest},

	proto.CmdUploadSlaveFile:            {logs: true, fn: (*session).uploadSlave},
	proto.CmdAppendFile:                 {logs: true, fn: (*session).appendFile},
	proto.CmdModifyFile:                 {logs: true, fn: (*session).modifyFile},
	proto.CmdTruncateFile:               {logs: true, buffered: true, fn: (*session).truncateFile},
	proto.CmdRegenerateAppenderFilename: {logs: true, buffered: true, fn: (*session).regenerate},
}

// requestBuf is the read buffer of a connection: one read takes a header
// with a download request or a small upload; larger reads bypass it.
const requestBuf = 8 << 10

// maxDrain bounds how much of an unread request body is skipped so that an
// error can be answered on a still usable connection; beyond it the
// connection is closed after the reply.
const maxDrain = 1 << 20

// session is one client connection.
type session struct {
	slot uint64 // spreads this connection's temp files (tempDir)
	s    *Storage
	c    net.Conn
	body *io.LimitedReader // the unread rest of the current request body
	qa   *quickack.Reader  // reads requests without Nagle stalls (see package quickack)
	in   *bufio.Reader     // over qa: a small request arrives in one read with its header
	peer peerAuth          // a replicating peer's cluster auth and server ID (sync_recv.go)
}

// accept starts serving c unless max_connections is reached, in which case
// c is closed at once.
func (s *Storage) accept(c net.Conn) {
	if !s.repl.allowed(c) { // allow_hosts
		c.Close()
		return
	}
	select {
	case s.connSem <- struct{}{}:
	default:
		s.log.Warn().Str("peer", c.RemoteAddr().String()).Int("max_connections", cap(s.connSem)).Msg("too many connections, closing")
		c.Close()
		return
	}
	if !s.track(c) {
		<-s.connSem
		c.Close()
		return
	}
	s.stats.connOpened()
	if !s.spawn(func() { s.serveConn(c) }) {
		s.stats.connClosed()
		s.untrack(c)
		<-s.connSem
		c.Close()
	}
}

// serveConn runs requests on one connection until it closes, times out while
// idle, or a request requires closing it.
func (s *Storage) serveConn(c net.Conn) {
	defer func() {
		// A bug in one request must not take the daemon down: log it,
		// count it (the fuzz test checks the count) and drop the connection.
		if v := recover(); v != nil {
			s.panics.Add(1)
			s.log.Error().Str("panic", fmt.Sprint(v)).Str("stack", string(debug.Stack())).Msg("request handler panicked")
		}
		s.untrack(c)
		c.Close()
		s.stats.connClosed()
		<-s.connSem
	}()
	sess := &session{s: s, c: c, slot: s.sessions.Add(1), qa: quickack.New(c)}
	sess.in = bufio.NewReaderSize(sess.qa, requestBuf)
	for {
		// Idle connections are dropped after network_timeout, as FastDFS does.
		c.SetReadDeadline(time.Now().Add(s.timeout))
		var hb [proto.HeaderSize]byte
		sess.qa.Idle()
		if _, err := io.ReadFull(sess.in, hb[:]); err != nil {
			return
		}
		if !sess.serve(hb[:]) {
			return
		}
	}
}

// serve runs one request whose header is hb; false means close.
func (sess *session) serve(hb []byte) (keep bool) {
	s := sess.s
	sess.body = nil
	h, err := proto.DecodeHeader(hb)
	if err != nil { // negative pkg_len
		sess.fail(err)
		return false
	}
	if h.Cmd == proto.CmdQuit {
		return false
	}
	g := s.newRateGuard(sess.c, "receive") // network_timeout per read, min_transfer_rate overall (transfer.go)
	sess.qa.Next()
	g.src = sess.in
	sess.body = &io.LimitedReader{R: g, N: h.PkgLen}
	hd, ok := handlers[h.Cmd]
	if !ok {
		sess.fail(proto.Errf(proto.StatusEINVAL, "unknown command %d", h.Cmd))
		return false
	}
	if hd.logs && s.binlog.full() {
		return sess.fail(proto.Errf(proto.StatusEIO, "cmd %d refused: the binlog cannot be written and %d bytes of records wait for it", h.Cmd, binlogPendingMax))
	}
	start := time.Now()
	var body []byte
	if hd.buffered {
		if h.PkgLen >= s.maxRequest-proto.HeaderSize {
			sess.fail(proto.Errf(proto.StatusEINVAL, "cmd %d: request of %d bytes does not fit buff_size %d", h.Cmd, h.PkgLen+proto.HeaderSize, s.maxRequest))
			return false
		}
		body = make([]byte, h.PkgLen)
		if _, err := io.ReadFull(sess.body, body); err != nil {
			return false
		}
	}
	rep, err := hd.fn(sess, h, body)
	s.observe(sess, h, start, rep, err)
	if err != nil {
		if errors.Is(err, errAbort) {
			s.log.Debug().Err(err).Uint8("cmd", h.Cmd).Msg("request aborted")
			return false
		}
		return sess.fail(err)
	}
	return sess.send(rep)
}

// fail answers err's status with an empty body. EINVAL closes the connection
// (FastDFS closes after any header-only EINVAL, §1.5), as does an unread
// request body too large to skip. It reports whether to keep the connection.
func (sess *session) fail(err error) bool {
	st := proto.StatusOf(err)
	if st == 0 {
		st = proto.StatusEIO
	}
	s := sess.s
	ev := s.log.Debug()
	if st != proto.StatusENOENT && st != proto.StatusEINVAL && st != proto.StatusEEXIST {
		ev = s.log.Warn()
	}
	ev.Err(err).Str("peer", sess.c.RemoteAddr().String()).Uint8("status", st).Msg("request failed")
	keep := st != proto.StatusEINVAL
	if keep && sess.body != nil && sess.body.N > 0 {
		// Skip the rest of the body so the answer arrives on a connection
		// the client can keep using.
		if sess.body.N > maxDrain {
			keep = false
		} else if _, derr := io.Copy(io.Discard, sess.body); derr != nil || sess.body.N > 0 {
			return false
		}
	}
	sess.c.SetWriteDeadline(time.Now().Add(s.timeout))
	if werr := proto.WriteResponse(sess.c, st, nil); werr != nil {
		return false
	}
	if !keep {
		lingerClose(sess.c, s.timeout)
	}
	return keep
}

// send writes a successful reply; false means close (a streaming error after
// the header leaves the client no other way to notice, §3.7).
func (sess *session) send(rep *reply) bool {
	if rep == nil {
		rep = &reply{}
	}
	if rep.file != nil {
		defer rep.file.Close()
	}
	c := sess.c
	c.SetWriteDeadline(time.Now().Add(sess.s.timeout))
	if rep.framed != nil {
		// One write for header and file (download.go).
		defer putBuf(rep.framed)
		buf := (*rep.framed)[:proto.HeaderSize+int(rep.n)]
		(&proto.Header{PkgLen: rep.n, Cmd: proto.CmdResp}).Encode(buf)
		_, err := c.Write(buf)
		return err == nil
	}
	hdr := proto.Header{PkgLen: int64(len(rep.body)) + rep.n, Cmd: proto.CmdResp}
	if rep.crc != nil && len(rep.body) == 0 {
		// The header is sent with MSG_MORE, then the content (sendVerified).
		return sess.streamErr(sess.sendVerified(rep.file, rep.n, *rep.crc, rep.remote, hdr))
	}
	buf := make([]byte, proto.HeaderSize+len(rep.body))
	hdr.Encode(buf)
	copy(buf[proto.HeaderSize:], rep.body)
	if rep.file != nil && rep.n > 0 {
		if writeMore(c, buf) != nil {
			return false
		}
		if rep.copy {
			return sess.streamErr(sess.sendCopy(rep.file, rep.off, rep.n))
		}
		return sess.streamErr(sess.sendFile(rep.file, rep.off, rep.n))
	}
	_, err := c.Write(buf)
	return err == nil
}

// streamErr reports whether the connection survives a download stream
// that ended with err.
func (sess *session) streamErr(err error) bool {
	if err != nil {
		if errors.Is(err, errTooSlow) || errors.Is(err, errDamaged) {
			return false // logged by the guard (transfer.go) or by damaged
		}
		sess.s.log.Warn().Err(err).Str("peer", sess.c.RemoteAddr().String()).Msg("download stream broken, closing")
		return false
	}
	return true
}

// sendChunk is how much file is sent under one write deadline.
const sendChunk = 4 << 20

// sendFile streams n bytes of f from off to the client. io.Copy from an
// *io.LimitedReader over an *os.File into a *net.TCPConn uses sendfile(2).
func (sess *session) sendFile(f *os.File, off, n int64) error {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	g := sess.s.newRateGuard(sess.c, "send") // min_transfer_rate (transfer.go)
	for n > 0 {
		chunk := min(n, sendChunk)
		k, err := g.sendFile(f, chunk)
		n -= k
		sess.s.stats.add(statTotalDownloadBytes, k)
		sess.s.stats.add(statSuccessDownloadBytes, k)
		if err != nil {
			return err
		}
		if k < chunk {
			return fmt.Errorf("file shrank: %d bytes missing", n)
		}
	}
	return nil
}

// sendCopy is sendFile through a kept buffer, pread then write, where
// sendfile(2) costs more than a copy. sendfile splices 16 pages at a time:
// from a tmpfs (4 KiB pages) a 1 MiB file cost 634 µs of CPU of both ends
// of a loopback socket by sendfile, 458 by copy, and the storage's own CPU
// per 1 MiB download went from 392–420 µs to 371 side by side (from ext4,
// with large folios, sendfile costs 269 and stays; a 64 KiB download from
// a tmpfs cost the storage 35 µs by copy against 23, so a tmpfs copies
// from copyBufSize on). A trunk slot's content starts 24 bytes into a
// page, so 64 KiB of it spans 17 pages, two splices: 48–53 µs of storage
// CPU by sendfile.
func (sess *session) sendCopy(f *os.File, off, n int64) error {
	bp := copyBufs.get()
	defer copyBufs.put(bp)
	fd := int(f.Fd())
	g := sess.s.newRateGuard(sess.c, "send") // min_transfer_rate (transfer.go)
	for n > 0 {
		b := (*bp)[:min(n, int64(len(*bp)))]
		if err := preadFull(fd, b, off); err != nil {
			return err
		}
		if err := g.writeAll(b); err != nil {
			return err
		}
		off += int64(len(b))
		n -= int64(len(b))
		sess.s.stats.add(statTotalDownloadBytes, int64(len(b)))
		sess.s.stats.add(statSuccessDownloadBytes, int64(len(b)))
	}
	return nil
}

// sendVerified sends hdr and then a whole file of n bytes, checking its
// CRC32 against want on the way; download.go uses it for files above
// verifyMaxSize, which are too large to read once before sending. Each
// chunk is read with pread into a kept buffer for the CRC32 and then sent
// from the page cache with sendfile(2); the last chunk is sent only once the
// CRC matches: a damaged file ends the connection short of its announced
// length, so every client sees a failed download.
//
// Smaller files are read and checked first, then sent with one sendfile:
// side by side against C FastDFS a checked 1 MiB download cost the storage
// 0.39–0.46 ms of CPU that way, 0.71 with the reads and sends interleaved
// as here (the sender waits on the socket between chunks), and 0.9 with
// the checked buffer sent by write(2) (a second copy). Mapping the file
// instead of reading it cost more in page faults and unmapping than the
// copy it saved.
func (sess *session) sendVerified(f *os.File, n int64, want uint32, remote string, hdr proto.Header) error {
	s := sess.s
	bp := copyBufs.get()
	defer copyBufs.put(bp)
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var hb [proto.HeaderSize]byte
	hdr.Encode(hb[:])
	if err := writeMore(sess.c, hb[:]); err != nil {
		return err
	}
	g := s.newRateGuard(sess.c, "send") // min_transfer_rate (transfer.go)
	var crc uint32
	for off := int64(0); off < n; {
		b := (*bp)[:min(int64(len(*bp)), n-off)]
		var rerr error
		if err := rc.Control(func(fd uintptr) { rerr = preadFull(int(fd), b, off) }); err != nil {
			return err
		}
		if rerr != nil {
			return rerr
		}
		crc = crc32.Update(crc, crc32.IEEETable, b)
		if off+int64(len(b)) == n && crc != want {
			s.damaged(remote, crc, want)
			return errDamaged
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return err
		}
		k, err := g.sendFile(f, int64(len(b)))
		off += k
		s.stats.add(statTotalDownloadBytes, k)
		s.stats.add(statSuccessDownloadBytes, k)
		if err != nil {
			return err
		}
		if k < int64(len(b)) {
			return fmt.Errorf("file shrank: %d bytes missing", n-off)
		}
	}
	return nil
}

// writeMore writes a reply's header that file content sent with
// sendfile(2) follows: with MSG_MORE, so that the kernel sends them in one
// segment rather than the header alone first.
func writeMore(c net.Conn, b []byte) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		_, err := c.Write(b)
		return err
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			var k int
			k, werr = syscall.SendmsgN(int(fd), b, nil, nil, syscall.MSG_MORE)
			switch {
			case werr == syscall.EINTR:
				continue
			case werr == syscall.EAGAIN:
				return false // wait until writable (within the write deadline)
			case werr != nil:
				return true
			}
			b = b[k:]
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}

// errDamaged ends a download whose content did not match its name's CRC32
// (already logged).
var errDamaged = errors.New("file damaged on disk")

// activeTest answers ACTIVE_TEST: status 0, empty body; a body is EINVAL.
func (sess *session) activeTest(h proto.Header, body []byte) (*reply, error) {
	if len(body) != 0 {
		return nil, proto.Errf(proto.StatusEINVAL, "active test with %d body bytes", len(body))
	}
	return nil, nil
}

// lingerClose half-closes c and skips what the peer still sends for a short
// while, so the reply just written is not destroyed by a reset caused by
// unread input. The caller closes c afterwards.
func lingerClose(c net.Conn, timeout time.Duration) {
	type closeWriter interface{ CloseWrite() error }
	cw, ok := c.(closeWriter)
	if !ok {
		return
	}
	if cw.CloseWrite() != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(min(timeout, 2*time.Second)))
	io.CopyN(io.Discard, c, 4*maxDrain)
}
