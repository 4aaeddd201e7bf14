package fileid

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/vectors"
)

// remoteRE finds remote filenames in printed output.
var remoteRE = regexp.MustCompile(`M[0-9A-F]{2}/[0-9A-F]{2}/[0-9A-F]{2}/[A-Za-z0-9_.\-]+`)

// remoteAtEndRE finds a remote filename that ends a packet body (download,
// delete, query, regenerate and upload responses all end with one).
var remoteAtEndRE = regexp.MustCompile(`M[0-9A-F]{2}/[0-9A-F]{2}/[0-9A-F]{2}/[A-Za-z0-9_.\-]{34,}$`)

// vectorRemotes collects every remote filename of scenarios 01–12, from the
// printed output and from the packet bodies.
func vectorRemotes(t *testing.T) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for n := 1; n <= 12; n++ {
		sc, err := vectors.Load(fmt.Sprintf("%02d", n))
		require.NoError(t, err)
		for _, line := range sc.Output {
			for _, m := range remoteRE.FindAllString(line, -1) {
				seen[m] = true
			}
		}
		for _, m := range remoteRE.FindAllString(sc.Command, -1) {
			seen[m] = true
		}
		for _, c := range sc.Conns {
			for _, p := range c.Packets {
				switch p.Header.Cmd {
				case proto.CmdUploadSlaveFile, proto.CmdAppendFile, proto.CmdModifyFile, proto.CmdSetMetadata:
					continue // file content or metadata follows the name
				}
				if m := remoteAtEndRE.FindString(string(p.Body)); m != "" {
					seen[m] = true
				}
			}
		}
	}
	return seen
}

func TestVectorsDecode(t *testing.T) {
	remotes := vectorRemotes(t)
	require.GreaterOrEqual(t, len(remotes), 5)
	for r := range remotes {
		pr, err := ParseRemote(r, 1)
		require.NoError(t, err, r)
		require.Equal(t, r, pr.String())
		_, _, err = Split("group1/" + r)
		require.NoError(t, err, r)
		i, k, err := Decode(r)
		require.NoError(t, err, r)
		require.Equal(t, "127.0.0.1", i.SourceIP, r)
		require.Zero(t, i.SourceID, r)
		require.Equal(t, r[LogicPrefixLen:LogicPrefixLen+B64Len], EncodeBlock(i), r)
		if len(r) > NormalRemoteLen {
			require.Equal(t, KindSlave, k, r)
		} else {
			require.Contains(t, []Kind{KindNormal, KindAppender}, k, r)
		}
	}
}

func TestVectorUploadAndFileInfo(t *testing.T) {
	up, err := vectors.Load("01")
	require.NoError(t, err)
	require.Equal(t, []string{"group1/M00/0B/00/fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt"}, up.Output)
	g, r, err := Split(up.Output[0])
	require.NoError(t, err)
	require.Equal(t, "group1", g)
	i, k, err := Decode(r)
	require.NoError(t, err)
	require.Equal(t, KindNormal, k)
	require.Equal(t, "127.0.0.1", i.SourceIP)
	require.EqualValues(t, 13, i.Size())
	require.Equal(t, uint32(0x3d50f691), i.CRC32)
	require.Equal(t, "363.txt", r[LogicPrefixLen+B64Len:])
	require.Equal(t, "363.txt"[3:], "."+ExtFromFilename("hello.txt"))

	// scenario 04 is fdfs_file_info on the same ID; it printed the local decode.
	info, err := vectors.Load("04")
	require.NoError(t, err)
	require.Contains(t, info.Output, "file type: normal")
	require.Contains(t, info.Output, "source storage id: 0")
	require.Contains(t, info.Output, "source ip address: 127.0.0.1")
	require.Contains(t, info.Output, fmt.Sprintf("file size: %d", i.Size()))
	require.Contains(t, info.Output, fmt.Sprintf("file crc32: %d (0x%08x)", i.CRC32, i.CRC32))
	// The capture printed the time as 2026-11-25 14:29:59 in its local zone;
	// the block holds 0x6B06F0E7 = 1795616999, which is that time in UTC.
	require.EqualValues(t, 1795616999, i.Timestamp)
	ts := time.Unix(i.Timestamp, 0).UTC().Format(time.DateTime)
	require.Contains(t, info.Output, "file create timestamp: "+ts)
}

func TestVectorAppenderAndRegenerate(t *testing.T) {
	sc, err := vectors.Load("08")
	require.NoError(t, err)
	_, r, err := Split(sc.Output[0])
	require.NoError(t, err)
	i, k, err := Decode(r)
	require.NoError(t, err)
	require.Equal(t, KindAppender, k)
	require.True(t, i.IsAppender())
	require.Equal(t, uint64(0x846C361C00000000), uint64(i.SizeField))
	require.EqualValues(t, 0, i.Size())
	// the appender's CRC is of its initial content, the same 13 bytes as scenario 01
	require.Equal(t, uint32(0x3d50f691), i.CRC32)

	// scenario 10 regenerates it into a normal file of 13+14 bytes; HH/HH and
	// the extension part are kept.
	re, err := vectors.Load("10")
	require.NoError(t, err)
	_, r2, err := Split(re.Output[0])
	require.NoError(t, err)
	i2, k2, err := Decode(r2)
	require.NoError(t, err)
	require.Equal(t, KindNormal, k2)
	require.EqualValues(t, 27, i2.Size())
	require.Equal(t, r[:LogicPrefixLen], r2[:LogicPrefixLen])
	require.Equal(t, r[LogicPrefixLen+B64Len:], r2[LogicPrefixLen+B64Len:])
	require.GreaterOrEqual(t, i2.Timestamp, i.Timestamp)
}

func TestVectorSlave(t *testing.T) {
	sc, err := vectors.Load("12")
	require.NoError(t, err)
	var found bool
	for _, c := range sc.Conns {
		for n, p := range c.Packets {
			if !p.FromClient || p.Header.Cmd != proto.CmdUploadSlaveFile {
				continue
			}
			// body: master len 8, file size 8, prefix 16, ext 6, master name, content
			b := p.Body
			mlen := int(binary.BigEndian.Uint64(b[0:8]))
			prefix := proto.Fixed(b[16:32])
			ext := proto.Fixed(b[32:38])
			master := string(b[38 : 38+mlen])
			resp := c.Packets[n+1].Body // group 16 + remote
			want := string(resp[16:])
			got, err := SlaveRemote(master, prefix, ext)
			require.NoError(t, err)
			require.Equal(t, want, got)
			require.Equal(t, "M00/0B/00/fwAAAWsG8PeAULFrAAABLBtDLRM052_big.txt", got)

			mi, _, err := Decode(master)
			require.NoError(t, err)
			si, sk, err := Decode(got)
			require.NoError(t, err)
			require.Equal(t, KindSlave, sk)
			require.Equal(t, mi, si) // a slave decodes to its master's record
			require.Equal(t, uint32(457387283), si.CRC32)
			require.EqualValues(t, 300, si.Size())
			found = true
		}
	}
	require.True(t, found)
}
