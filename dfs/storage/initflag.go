package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"
)

// initFlag is base_path/data/.data_init_flag (docs/protocol.md §6.12): when this storage
// first joined, whether its initial sync is done, the sync source and until
// timestamp the tracker assigned, and the address it last had.
type initFlag struct {
	mu          sync.Mutex
	path        string
	joinTime    int64
	syncOldDone bool
	syncSrc     string
	syncUntil   int64
	lastIP      string
	lastPort    int
	// trunk keys are kept as read so a rewrite does not lose them
	trunkFileID, trunkCompressTime, trunkCompressStage int64
}

// loadInitFlag reads the file, or creates it for a brand-new storage
// (join time = now, initial sync not done).
func loadInitFlag(path string, now time.Time) (*initFlag, error) {
	f := &initFlag{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		f.joinTime = now.Unix()
		if err := f.saveLocked(); err != nil {
			return nil, err
		}
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf(".data_init_flag: %w", err)
	}
	kv := parseKV(data)
	num := func(k string) int64 {
		n, _ := strconv.ParseInt(kv[k], 10, 64)
		return n
	}
	f.joinTime = num("storage_join_time")
	f.syncOldDone = num("sync_old_done") != 0
	f.syncSrc = kv["sync_src_server"]
	f.syncUntil = num("sync_until_timestamp")
	f.lastIP = kv["last_ip_addr"]
	f.lastPort = int(num("last_server_port"))
	f.trunkFileID = num("current_trunk_file_id")
	f.trunkCompressTime = num("trunk_last_compress_time")
	f.trunkCompressStage = num("trunk_binlog_compress_stage")
	if f.joinTime <= 0 {
		f.joinTime = now.Unix()
	}
	return f, nil
}

func (f *initFlag) saveLocked() error {
	text := fmt.Sprintf("storage_join_time=%d\nsync_old_done=%d\nsync_src_server=%s\nsync_until_timestamp=%d\n"+
		"last_ip_addr=%s\nlast_server_port=%d\ncurrent_trunk_file_id=%d\ntrunk_last_compress_time=%d\n"+
		"trunk_binlog_compress_stage=%d\n",
		f.joinTime, b2i(f.syncOldDone), f.syncSrc, f.syncUntil, f.lastIP, f.lastPort,
		f.trunkFileID, f.trunkCompressTime, f.trunkCompressStage)
	if err := writeFileAtomic(f.path, []byte(text), true); err != nil {
		return fmt.Errorf(".data_init_flag: %w", err)
	}
	return nil
}

// snapshot returns the sync fields under the lock.
func (f *initFlag) snapshot() (joinTime int64, syncOldDone bool, src string, until int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.joinTime, f.syncOldDone, f.syncSrc, f.syncUntil
}

// setSyncDone records the answer to SYNC_DEST_REQ.
func (f *initFlag) setSyncDone(src string, until int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncOldDone, f.syncSrc, f.syncUntil = true, src, until
	return f.saveLocked()
}

// setAddr records the address the trackers see, when it changed.
func (f *initFlag) setAddr(ip string, port int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lastIP == ip && f.lastPort == port {
		return nil
	}
	f.lastIP, f.lastPort = ip, port
	return f.saveLocked()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
