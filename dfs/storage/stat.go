package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"yunpan/dfs/proto"
)

// Counter indexes used here (proto.Stat* order, docs/protocol.md §2.4).
const (
	statTotalUpload          = proto.StatTotalUpload
	statSuccessUpload        = proto.StatSuccessUpload
	statTotalSetMeta         = proto.StatTotalSetMeta
	statSuccessSetMeta       = proto.StatSuccessSetMeta
	statTotalDelete          = proto.StatTotalDelete
	statSuccessDelete        = proto.StatSuccessDelete
	statTotalDownload        = proto.StatTotalDownload
	statSuccessDownload      = proto.StatSuccessDownload
	statTotalGetMeta         = proto.StatTotalGetMeta
	statSuccessGetMeta       = proto.StatSuccessGetMeta
	statTotalUploadBytes     = proto.StatTotalUploadBytes
	statSuccessUploadBytes   = proto.StatSuccessUploadBytes
	statTotalDownloadBytes   = proto.StatTotalDownloadBytes
	statSuccessDownloadBytes = proto.StatSuccessDownloadBytes
	statTotalFileOpen        = proto.StatTotalFileOpen
	statSuccessFileOpen      = proto.StatSuccessFileOpen
	statTotalFileRead        = proto.StatTotalFileRead
	statSuccessFileRead      = proto.StatSuccessFileRead
	statTotalFileWrite       = proto.StatTotalFileWrite
	statSuccessFileWrite     = proto.StatSuccessFileWrite
	statLastSourceUpdate     = proto.StatLastSourceUpdate
	statLastSyncUpdate       = proto.StatLastSyncUpdate
)

// stats holds the 42 counters of the stat block and the connection counts,
// all updated atomically. gen changes whenever a counter does, so the
// reporter sends the block only when something changed.
type stats struct {
	c           [42]atomic.Int64
	gen         atomic.Int64
	connCurrent atomic.Int32
	connMax     atomic.Int32
}

func newStats() *stats { return &stats{} }

func (st *stats) add(i int, d int64) {
	st.c[i].Add(d)
	st.gen.Add(1)
}

// touch sets a timestamp counter to now.
func (st *stats) touch(i int) {
	st.c[i].Store(wallNow().Unix())
	st.gen.Add(1)
}

func (st *stats) get(i int) int64 { return st.c[i].Load() }

func (st *stats) connOpened() {
	n := st.connCurrent.Add(1)
	for {
		m := st.connMax.Load()
		if n <= m || st.connMax.CompareAndSwap(m, n) {
			break
		}
	}
	st.gen.Add(1)
}

func (st *stats) connClosed() {
	st.connCurrent.Add(-1)
	st.gen.Add(1)
}

// block is the 348-byte BEAT body. The last two slots (last_synced_timestamp,
// last_heart_beat_time) are sent as zero (docs/protocol.md §4.4).
func (st *stats) block() proto.StatBlock {
	var b proto.StatBlock
	b.ConnMax = st.connMax.Load()
	b.ConnCurrent = st.connCurrent.Load()
	b.ConnAlloc = b.ConnMax
	for i := range b.Counters {
		b.Counters[i] = st.c[i].Load()
	}
	b.Counters[proto.StatLastSyncedTimestamp] = 0
	b.Counters[proto.StatLastHeartBeatTime] = 0
	return b
}

// Keys of storage_stat.dat besides the counter names (docs/protocol.md §6.5, §6.12).
const (
	keyDistHigh  = "dist_path_index_high"
	keyDistLow   = "dist_path_index_low"
	keyDistCount = "dist_write_file_count"
)

// saveStatFile writes storage_stat.dat: one `name=value` line per counter of
// the stat block (the names of §2.4, last_synced_timestamp and
// last_heart_beat_time excluded), then the three round-robin counters.
func saveStatFile(path string, st *stats, d *distributor) error {
	var b strings.Builder
	for i, name := range proto.StatCounterNames {
		if i == proto.StatLastSyncedTimestamp || i == proto.StatLastHeartBeatTime {
			continue
		}
		fmt.Fprintf(&b, "%s=%d\n", name, st.get(i))
	}
	high, low, count := d.snapshot()
	fmt.Fprintf(&b, "%s=%d\n%s=%d\n%s=%d\n", keyDistHigh, high, keyDistLow, low, keyDistCount, count)
	return writeFileAtomic(path, []byte(b.String()), false)
}

// loadStatFile restores the counters; a missing file is a fresh start.
func loadStatFile(path string, st *stats, d *distributor) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage_stat.dat: %w", err)
	}
	kv := parseKV(data)
	num := func(k string) int64 {
		n, _ := strconv.ParseInt(kv[k], 10, 64)
		return n
	}
	for i, name := range proto.StatCounterNames {
		st.c[i].Store(num(name))
	}
	st.c[proto.StatLastSyncedTimestamp].Store(0)
	st.c[proto.StatLastHeartBeatTime].Store(0)
	d.high, d.low, d.count = int(num(keyDistHigh)), int(num(keyDistLow)), int(num(keyDistCount))
	if d.high < 0 || d.high >= d.subdirs {
		d.high = 0
	}
	if d.low < 0 || d.low >= d.subdirs {
		d.low = 0
	}
	if d.count < 0 || d.count >= d.rotate {
		d.count = 0
	}
	return nil
}
