package cli

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	a := ln.Addr().String()
	require.NoError(t, ln.Close())
	return a
}

func TestHumanMB(t *testing.T) {
	for mb, want := range map[int64]string{
		0x3efe3:      "252 GB", // scenario 11
		0x13a8e:      "79 GB",
		0xc993:       "50 GB",
		28923:        "28 GB",
		5*1024 + 300: "5.3 GB",
		512:          "512 MB",
		9:            "9.0 MB",
		1 << 20:      "1.0 TB",
		15 << 20:     "15 TB",
	} {
		require.Equal(t, want, HumanMB(mb), mb)
	}
}

func TestFormatDelay(t *testing.T) {
	for sec, want := range map[int64]string{
		0: "0 second", 1: "1 second", 2: "2 seconds", 60: "1 minute", 61: "1 minute 1 second",
		3600 * 5: "5 hours", 90061: "1 day 1 hour 1 minute 1 second", 2*86400 + 7200: "2 days 2 hours",
	} {
		require.Equal(t, want, FormatDelay(sec), sec)
	}
}

func TestFormatGroupTrunkAndDelay(t *testing.T) {
	t.Setenv("TZ", "UTC")
	time.Local = time.UTC
	g := &proto.GroupStat{Name: "g", TotalMB: 2048, FreeMB: 1024, ReservedMB: 2000, TrunkFreeMB: 100, CurrentTrunkFileID: 7}
	a := proto.StorageStat{ID: "1", IP: "10.0.0.1", IfTrunkServer: true, RWMode: proto.RWRead}
	a.Stat.Counters[proto.StatLastSourceUpdate] = 10000
	a.Stat.Counters[proto.StatLastSyncedTimestamp] = 0
	b := proto.StorageStat{ID: "2", IP: "10.0.0.2", Status: 42}
	b.Stat.Counters[proto.StatLastSyncedTimestamp] = 10000 - 3661
	var sb strings.Builder
	FormatGroup(&sb, g, []proto.StorageStat{a, b})
	out := sb.String()
	require.Contains(t, out, "disk available space =  0.0 MB\n")
	require.Contains(t, out, "trunk free space =  100 MB\n")
	require.Contains(t, out, "current trunk server = 1 (10.0.0.1)\ncurrent trunk file id = 7\n")
	require.Contains(t, out, "\t\tread write mode = readonly\n")
	require.Contains(t, out, "\t\thost = 10.0.0.2:0  UNKNOWN\n")
	// a: the other storage never updated as a source; b: a did, 1h1m1s ago
	require.Contains(t, out, "\t\tlast_synced_timestamp = 1970-01-01 00:00:00 \n\n\tStorage 2:")
	require.True(t, strings.HasSuffix(out, "\t\tlast_synced_timestamp = 1970-01-01 01:45:39 (1 hour 1 minute 1 second delay)\n"), out)
	require.Contains(t, out, "\t\tup time = \n")

	b.Stat.Counters[proto.StatLastSourceUpdate] = 5
	sb.Reset()
	FormatGroup(&sb, g, []proto.StorageStat{a, b})
	require.Contains(t, sb.String(), "00:00:00 (never synced)\n\n\tStorage 2:")
}

func TestFormatFileInfoNoCRC(t *testing.T) {
	t.Setenv("TZ", "UTC")
	time.Local = time.UTC
	fi := &client.FileInfo{Kind: fileid.KindAppender, GetFromServer: true, SourceIP: "1.2.3.4", Size: 5}
	require.Equal(t, "GET FROM SERVER: true\n\nfile type: appender\nsource storage id: 0\n"+
		"source ip address: 1.2.3.4\nfile create timestamp: 1970-01-01 00:00:00\nfile size: 5\n\n",
		FormatFileInfo(fi, client.FileInfoNoCRC))
	fi.CRC32 = 0xdeadbeef
	require.Contains(t, FormatFileInfo(fi, client.FileInfoNoCRC), "file crc32: -559038737 (0xdeadbeef)\n")
}

func TestErrno(t *testing.T) {
	require.Equal(t, 2, Errno(proto.Errf(proto.StatusENOENT, "x")))
	require.Equal(t, 110, Errno(os.ErrDeadlineExceeded))
	require.Equal(t, 111, Errno(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}))
	require.Equal(t, 5, Errno(errors.New("odd")))
	require.Equal(t, "download file fail, error no: 2, error info: No such file or directory",
		FailLine("download file", proto.StatusError(2)))
	require.Equal(t, 7, int(atol("7x")))
	require.Equal(t, -3, int(atol(" -3")))
	require.Zero(t, atol("x"))
}
