package storage

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// uploadFixedLen is the fixed part of an UPLOAD_FILE body: store path index,
// file size, extension (docs/protocol.md §3.2).
const uploadFixedLen = 1 + 8 + proto.ExtLen

// copyBufSize bounds the memory one upload uses, whatever the file size.
const copyBufSize = 256 << 10

var copyBufs = newFreeList(copyBufSize, 8)

// smallBufSize is the buffer of small files: a 4 KiB upload or download
// taking a 256 KiB buffer would, past the buffers kept, allocate and clear
// 64 times what it uses.
const smallBufSize = 16 << 10

var smallBufs = newFreeList(smallBufSize, 32)

// getBuf returns a pooled buffer of at least n bytes when n fits a small
// one, else of copyBufSize; putBuf gives it back to its pool.
func getBuf(n int64) *[]byte {
	if n <= smallBufSize {
		return smallBufs.get()
	}
	return copyBufs.get()
}

func putBuf(bp *[]byte) {
	if cap(*bp) == smallBufSize {
		smallBufs.put(bp)
		return
	}
	copyBufs.put(bp)
}

func (sess *session) upload(h proto.Header, _ []byte) (*reply, error) {
	return sess.uploadFile(h, false)
}

func (sess *session) uploadAppender(h proto.Header, _ []byte) (*reply, error) {
	return sess.uploadFile(h, true)
}

// uploadFile serves UPLOAD_FILE (11) and UPLOAD_APPENDER_FILE (23): check the
// fixed part, choose the store path, stream the content into a temp file,
// name it from its mtime, size and CRC32, publish it and log `C`.
func (sess *session) uploadFile(h proto.Header, appender bool) (*reply, error) {
	s := sess.s
	s.stats.add(statTotalUpload, 1)
	if h.PkgLen < uploadFixedLen {
		return nil, proto.Errf(proto.StatusEINVAL, "upload: body %d bytes < %d", h.PkgLen, uploadFixedLen)
	}
	var fixed [uploadFixedLen]byte
	if _, err := io.ReadFull(sess.body, fixed[:]); err != nil {
		return nil, fmt.Errorf("upload: read fixed part: %w: %v", errAbort, err)
	}
	idx := int8(fixed[0])
	size := proto.I64(fixed[1:9])
	ext := proto.Fixed(fixed[9:])
	if size < 0 || h.PkgLen-uploadFixedLen != size {
		return nil, proto.Errf(proto.StatusEINVAL, "upload: file size %d does not match body length %d", size, h.PkgLen)
	}
	if !fileid.ValidExt(ext) {
		return nil, proto.Errf(proto.StatusEINVAL, "upload: invalid extension %q", ext)
	}
	sp, err := s.choosePath(idx, size)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	var remote string
	if s.wantsTrunk(size, appender) {
		remote, err = sess.receiveTrunk(sp.index, size, ext) // trunk_writer.go
		if errors.Is(err, errNoTrunk) {
			s.log.Debug().Err(err).Msg("upload: stored as a normal file")
		} else if err != nil {
			return nil, fmt.Errorf("upload into trunk: %w", err)
		}
	}
	if remote == "" {
		remote, err = sess.receiveFile(sp, size, ext, appender)
	}
	for tries := 1; errors.Is(err, errPathUnwritable) && tries < len(s.paths); tries++ {
		if sp, err = s.choosePath(-1, size); err == nil {
			remote, err = sess.receiveFile(sp, size, ext, appender)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("upload to store path %d: %w", sp.index, err)
	}
	if err := s.repl.ackReplicas(remote); err != nil { // sync_ack_replicas (replicas.go)
		return nil, fmt.Errorf("upload %s: %w", remote, err)
	}
	s.stats.add(statSuccessUpload, 1)
	s.stats.add(statSuccessUploadBytes, size)
	s.stats.touch(statLastSourceUpdate)
	s.log.Debug().Str("file", remote).Int64("size", size).Bool("appender", appender).Msg("uploaded")
	return &reply{body: (&proto.Buf{}).Fixed(s.group, proto.GroupNameLen).String(remote).B}, nil
}

// receiveFile streams size bytes of the request body into a new file of sp
// and returns its remote filename. On any failure the temp file is removed
// (an unnamed one goes with its descriptor), so nothing visible and no
// binlog record remain.
func (sess *session) receiveFile(sp *storePath, size int64, ext string, appender bool) (string, error) {
	s := sess.s
	src := fileid.Info{SourceIP: s.sourceIP(sess.c), SourceID: s.sourceID(), Timestamp: wallNow().Unix()}
	high, low := s.subdirFor(src, size, appender)
	dir := filepath.Join(sp.dataDir, hex2(high), hex2(low))
	var f *os.File
	var err error
	tmp := "" // the temp file's path: none for an unnamed file (tmpfile.go)
	if sp.unnamed {
		f, err = createUnnamed(dir)
	} else {
		tmpDir := sp.tempDir(sess.slot)
		f, err = createTemp(tmpDir, "up")
		if errors.Is(err, fs.ErrNotExist) {
			if err = os.MkdirAll(tmpDir, 0o755); err == nil {
				f, err = createTemp(tmpDir, "up")
			}
		}
		if err == nil {
			tmp = f.Name()
		}
	}
	if err != nil {
		return "", sp.createFailed(s, err) // nothing read yet: another path may take it (hardening.go)
	}
	s.stats.add(statTotalFileOpen, 1)
	s.stats.add(statSuccessFileOpen, 1)
	closed, done := false, false
	defer func() {
		if !closed {
			f.Close()
		}
		if !done && tmp != "" {
			os.Remove(tmp)
		}
	}()
	crc, err := sess.copyBody(f, size)
	if err != nil {
		return "", err
	}
	if s.fsyncBytes > 0 {
		if err := f.Sync(); err != nil {
			return "", fmt.Errorf("fsync: %w", err)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	info := src
	info.Timestamp = stampFile(f.Name(), fi.ModTime()).Unix() // clock.go
	info.CRC32 = crc
	gen := func(int) string {
		// A fresh random size field and extension digits for every try.
		info.SizeField = fileid.SizeField(size, appender, rand.Uint32())
		return fileid.EncodeBlock(info) + fileid.FormatExt(ext, nil)
	}
	var name string
	if tmp == "" {
		// An unnamed file is named while still open: closing it first
		// would free it.
		name, err = publishFD(f, dir, gen)
		closed = true
		if cerr := f.Close(); err == nil && cerr != nil {
			os.Remove(filepath.Join(dir, name)) // named but not acknowledged: take it back
			err = cerr
		}
	} else {
		closed = true
		if err := f.Close(); err != nil {
			return "", err
		}
		name, err = publish(tmp, dir, gen)
		if errors.Is(err, fs.ErrNotExist) {
			// The HH/HH tree was damaged or the marker lied: recreate this
			// directory (looked for only now, not before every upload).
			if err = os.MkdirAll(dir, 0o755); err == nil {
				name, err = publish(tmp, dir, gen)
			}
		}
	}
	if err != nil {
		return "", err
	}
	done = true
	if s.fsyncBytes > 0 {
		if err := syncDir(dir); err != nil {
			s.log.Warn().Err(err).Str("dir", dir).Msg("fsync directory")
		}
	}
	remote := "M" + hex2(sp.index) + "/" + hex2(high) + "/" + hex2(low) + "/" + name
	s.binlog.Write(info.Timestamp, opCreate, remote, "")
	return remote, nil
}

// copyBody copies size bytes of the request body into f through a bounded
// buffer, computing the CRC32 and fsyncing every fsync_after_written_bytes.
// A read failure (client gone, short body, timeout) is errAbort; a write
// failure carries the errno (ENOSPC, EIO, ...).
func (sess *session) copyBody(f *os.File, size int64) (uint32, error) {
	s := sess.s
	bp := getBuf(size)
	defer putBuf(bp)
	buf := *bp
	crc := crc32.NewIEEE()
	var written, unsynced int64
	for written < size {
		n, rerr := sess.body.Read(buf[:min(int64(len(buf)), size-written)])
		if n > 0 {
			s.stats.add(statTotalUploadBytes, int64(n))
			s.stats.add(statTotalFileWrite, 1)
			if _, err := f.Write(buf[:n]); err != nil {
				return 0, fmt.Errorf("write: %w", err)
			}
			s.stats.add(statSuccessFileWrite, 1)
			crc.Write(buf[:n])
			written += int64(n)
			if s.fsyncBytes > 0 {
				if unsynced += int64(n); unsynced >= s.fsyncBytes {
					if err := f.Sync(); err != nil {
						return 0, fmt.Errorf("fsync: %w", err)
					}
					unsynced = 0
				}
			}
		}
		if rerr != nil && written < size {
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("receive body (%d of %d bytes): %w: %v", written, size, errAbort, rerr)
		}
	}
	return crc.Sum32(), nil
}
