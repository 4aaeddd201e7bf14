package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// slaveFixedLen is master_filename_len + file_size + prefix + ext (§3.3).
const slaveFixedLen = 8 + 8 + fileid.MaxPrefixLen + proto.ExtLen

// uploadSlave serves UPLOAD_SLAVE_FILE (21): store a file named after an
// existing master file (§6.8) in the master's directory. EEXIST when the
// slave exists; EINVAL for bad fields, an empty or invalid prefix, and a
// master that is itself a slave. With store_slave_file_use_link (a tracker
// parameter) the content is stored under a generated name and the slave
// name is a symbolic link to it: binlog `C` for the data file, `L` for the
// link; otherwise the content gets the slave name and a `C`.
func (sess *session) uploadSlave(h proto.Header, _ []byte) (*reply, error) {
	rep, err := sess.uploadSlaveBody(h)
	return rep, sess.drainFor(err)
}

func (sess *session) uploadSlaveBody(h proto.Header) (*reply, error) {
	s := sess.s
	s.stats.add(statTotalUpload, 1)
	if h.PkgLen <= slaveFixedLen {
		return nil, proto.Errf(proto.StatusEINVAL, "upload slave: body %d bytes", h.PkgLen)
	}
	var fixed [slaveFixedLen]byte
	if _, err := io.ReadFull(sess.body, fixed[:]); err != nil {
		return nil, fmt.Errorf("upload slave: read fixed part: %w: %v", errAbort, err)
	}
	r := &proto.Reader{B: fixed[:]}
	masterLen, size := r.I64(), r.I64()
	prefix, ext := r.Fixed(fileid.MaxPrefixLen), r.Fixed(proto.ExtLen)
	if masterLen <= fileid.LogicPrefixLen || masterLen >= fileid.MaxRemoteLen {
		return nil, proto.Errf(proto.StatusEINVAL, "upload slave: master file name length %d", masterLen)
	}
	if size < 0 || h.PkgLen-slaveFixedLen-masterLen != size {
		return nil, proto.Errf(proto.StatusEINVAL, "upload slave: file size %d does not match body length %d", size, h.PkgLen)
	}
	master, err := sess.readAppName("upload slave", masterLen)
	if err != nil {
		return nil, err
	}
	if !fileid.ValidPrefix(prefix) {
		return nil, proto.Errf(proto.StatusEINVAL, "upload slave: invalid prefix %q", prefix)
	}
	if !fileid.ValidExt(ext) {
		return nil, proto.Errf(proto.StatusEINVAL, "upload slave: invalid extension %q", ext)
	}
	mr, masterPath, err := s.parseRemote(master)
	if err != nil {
		return nil, fmt.Errorf("upload slave: %w", err)
	}
	info, _, err := fileid.Decode(master)
	if err != nil {
		return nil, fmt.Errorf("upload slave: %w", err)
	}
	if isSlaveRemote(master, info) {
		return nil, proto.Errf(proto.StatusEINVAL, "upload slave: master %s is itself a slave file", master)
	}
	slave, err := fileid.SlaveRemote(master, prefix, ext)
	if err != nil {
		return nil, fmt.Errorf("upload slave: %w", err)
	}
	_, slavePath, err := s.parseRemote(slave)
	if err != nil {
		return nil, fmt.Errorf("upload slave: %w", err)
	}
	if err := s.storedExists(master, masterPath); err != nil {
		if proto.StatusOf(err) == proto.StatusENOENT {
			return nil, proto.Errf(proto.StatusENOENT, "upload slave: master %s", master)
		}
		return nil, fmt.Errorf("upload slave: master %s: %w", master, err)
	}
	if _, err := os.Lstat(slavePath); err == nil {
		return nil, proto.Errf(proto.StatusEEXIST, "upload slave: %s", slave)
	}
	sp := s.paths[mr.StorePath]
	if !s.spaceOK(sp, size) {
		return nil, proto.Errf(proto.StatusENOSPC, "upload slave: store path %d: free space below the reserve", sp.index)
	}
	if s.curParams().slaveUseLink {
		err = sess.receiveSlaveLinked(sp, size, ext, slave, slavePath)
	} else {
		err = sess.receiveSlave(sp, size, slave, slavePath)
	}
	if err != nil {
		return nil, fmt.Errorf("upload slave %s: %w", slave, err)
	}
	s.stats.add(statSuccessUpload, 1)
	s.stats.add(statSuccessUploadBytes, size)
	s.stats.touch(statLastSourceUpdate)
	s.log.Debug().Str("file", slave).Int64("size", size).Msg("slave uploaded")
	return &reply{body: (&proto.Buf{}).Fixed(s.group, proto.GroupNameLen).String(slave).B}, nil
}

// receiveSlave streams the content into a temp file and links it under the
// slave name, which never replaces an existing file (EEXIST).
func (sess *session) receiveSlave(sp *storePath, size int64, slave, slavePath string) error {
	s := sess.s
	tmpDir := sp.tempDir(sess.slot)
	f, err := createTemp(tmpDir, "sl")
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(tmpDir, 0o755); err == nil {
			f, err = createTemp(tmpDir, "sl")
		}
	}
	if err != nil {
		return err
	}
	s.stats.add(statTotalFileOpen, 1)
	s.stats.add(statSuccessFileOpen, 1)
	tmp := f.Name()
	defer os.Remove(tmp) // after the link, only the temp name goes
	_, err = sess.copyBody(f, size)
	if err == nil && s.fsyncBytes > 0 {
		err = f.Sync()
	}
	var fi fs.FileInfo
	if err == nil {
		fi, err = f.Stat()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, slavePath); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return proto.Errf(proto.StatusEEXIST, "%s appeared meanwhile", slave)
		}
		return err
	}
	if s.fsyncBytes > 0 {
		if err := syncDir(filepath.Dir(slavePath)); err != nil {
			s.log.Warn().Err(err).Str("file", slave).Msg("fsync directory")
		}
	}
	s.binlog.Write(fi.ModTime().Unix(), opCreate, slave, "")
	return nil
}

// receiveSlaveLinked stores the content as an ordinary new file of sp (its
// own generated name, logged `C`) and makes the slave name a relative
// symbolic link to it (logged `L`). If the link cannot be made, the data
// file is removed again and its removal logged.
func (sess *session) receiveSlaveLinked(sp *storePath, size int64, ext, slave, slavePath string) error {
	s := sess.s
	data, err := sess.receiveFile(sp, size, ext, false)
	if err != nil {
		return err
	}
	_, dataPath, err := s.parseRemote(data)
	if err == nil {
		var target string
		if target, err = filepath.Rel(filepath.Dir(slavePath), dataPath); err == nil {
			err = os.Symlink(target, slavePath)
		}
	}
	if err != nil {
		if rerr := os.Remove(dataPath); rerr == nil {
			s.binlog.Write(wallNow().Unix(), opDelete, data, "")
		}
		if errors.Is(err, fs.ErrExist) {
			return proto.Errf(proto.StatusEEXIST, "%s appeared meanwhile", slave)
		}
		return fmt.Errorf("link to %s: %w", data, err)
	}
	if s.fsyncBytes > 0 {
		if err := syncDir(filepath.Dir(slavePath)); err != nil {
			s.log.Warn().Err(err).Str("file", slave).Msg("fsync directory")
		}
	}
	s.binlog.Write(wallNow().Unix(), opLink, slave, data)
	return nil
}
