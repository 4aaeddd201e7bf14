package proto_test

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/vectors"
)

func TestHeaderRoundTrip(t *testing.T) {
	h := proto.Header{PkgLen: 60, Cmd: proto.CmdUploadFile, Status: 0}
	got, err := proto.DecodeHeader(h.Bytes())
	require.NoError(t, err)
	require.Equal(t, h, got)

	_, err = proto.DecodeHeader([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 11, 0})
	require.Equal(t, proto.StatusEINVAL, proto.StatusOf(err), "negative pkg_len is EINVAL")
	_, err = proto.DecodeHeader([]byte{0, 0, 0})
	require.Error(t, err)
}

func TestStatusError(t *testing.T) {
	err := proto.Errf(proto.StatusENOENT, "download %s", "x")
	require.True(t, errors.Is(err, syscall.ENOENT))
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err))
	require.Equal(t, "No such file or directory", proto.StatusError(2).Error())
	require.Equal(t, proto.StatusEIO, proto.StatusOf(errors.New("plain")))
	require.Equal(t, byte(0), proto.StatusOf(nil))
}

func TestFixed(t *testing.T) {
	b := make([]byte, 16)
	proto.PutFixed(b, "group1")
	require.Equal(t, "group1", proto.Fixed(b))
	// Garbage after the NUL is ignored (docs/protocol.md §1.3).
	b[10] = 'x'
	require.Equal(t, "group1", proto.Fixed(b))
	proto.PutFixed(b, "abcdefghijklmnopqrstu")
	require.Equal(t, "abcdefghijklmnop", proto.Fixed(b), "a full field has no terminator")
}

// TestVectorStructs decodes captured tracker answers with our structs and
// re-encodes them byte for byte.
func TestVectorStructs(t *testing.T) {
	s, err := vectors.Load("11")
	require.NoError(t, err)
	pk := s.Conns[0].Packets
	groups := pk[1].Body
	require.Len(t, groups, proto.GroupStatSize)
	var g proto.GroupStat
	g.Read(&proto.Reader{B: groups})
	require.Equal(t, "group1", g.Name)
	require.EqualValues(t, 23000, g.StoragePort)
	require.EqualValues(t, 256, g.SubdirCount)
	require.EqualValues(t, -1, g.CurrentTrunkFileID)
	w := &proto.Buf{}
	g.Append(w)
	require.Equal(t, groups, w.B)

	stats, err := proto.DecodeStorageStats(pk[3].Body)
	require.NoError(t, err)
	require.Len(t, stats, 1)
	st := stats[0]
	require.Equal(t, proto.StatusActive, st.Status)
	require.Equal(t, proto.RWBoth, st.RWMode)
	require.Equal(t, "127.0.0.1", st.ID)
	require.Equal(t, "6.16.1", st.Version)
	require.EqualValues(t, 281642, st.Stat.Counters[proto.StatTotalUpload])
	require.EqualValues(t, 420000178437, st.Stat.Counters[proto.StatTotalDownloadBytes])
	w = &proto.Buf{}
	st.Append(w, proto.IPv4Size)
	require.Equal(t, pk[3].Body, w.B)
}

func TestVectorJoinAndQuery(t *testing.T) {
	s, err := vectors.Load("20")
	require.NoError(t, err)
	var join []byte
	for _, c := range s.Conns {
		for _, p := range c.Packets {
			if p.FromClient && p.Header.Cmd == proto.CmdStorageJoin && join == nil {
				join = p.Body
			}
		}
	}
	require.NotNil(t, join)
	j, err := proto.DecodeJoinBody(join)
	require.NoError(t, err)
	require.Equal(t, "group1", j.GroupName)
	require.EqualValues(t, 23000, j.StoragePort)
	require.EqualValues(t, 256, j.SubdirCount)
	require.True(t, j.InitFlag)
	require.Equal(t, "127.0.0.2", j.CurrentTrackerIP)
	require.Equal(t, []string{"127.0.0.2:22122"}, j.Trackers)
	require.Equal(t, join, j.Encode())

	s1, err := vectors.Load("01")
	require.NoError(t, err)
	sr, err := proto.DecodeStoreResp(s1.Conns[0].Packets[1].Body)
	require.NoError(t, err)
	require.Equal(t, &proto.StoreResp{Group: "group1", Storages: []proto.StorageAddr{{IP: "127.0.0.1", Port: 23000}}}, sr)
	require.Equal(t, s1.Conns[0].Packets[1].Body, sr.Encode(proto.IPv4Size))

	s2, err := vectors.Load("02")
	require.NoError(t, err)
	fr, err := proto.DecodeFetchResp(s2.Conns[0].Packets[1].Body)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:23000", fr.Storages[0].String())
	require.Equal(t, s2.Conns[0].Packets[1].Body, fr.Encode(proto.IPv4Size))
}

func TestMetadata(t *testing.T) {
	// §11 items 26–27.
	in := proto.DecodeMetadata([]byte{0x62, 0x02, 0x32, 0x01, 0x61, 0x02, 0x31})
	sorted := proto.MergeMetadata(nil, in, true)
	require.Equal(t, []byte{0x61, 0x02, 0x31, 0x01, 0x62, 0x02, 0x32}, proto.EncodeMetadata(sorted))
	merged := proto.MergeMetadata(sorted, []proto.Meta{{"a", "9"}}, false)
	require.Equal(t, []byte{0x61, 0x02, 0x39, 0x01, 0x62, 0x02, 0x32}, proto.EncodeMetadata(merged))
	require.Empty(t, proto.DecodeMetadata([]byte("no separators here")))
	long := proto.DecodeMetadata(append(append(bytes.Repeat([]byte("n"), 100), 0x02), bytes.Repeat([]byte("v"), 300)...))
	require.Len(t, long[0].Name, 64)
	require.Len(t, long[0].Value, 256)
}

func FuzzDecodePacket(f *testing.F) {
	for _, p := range []string{"01", "02", "11", "13", "14", "20"} {
		s, err := vectors.Load(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, c := range s.Conns {
			for _, pk := range c.Packets {
				f.Add(append(pk.Header.Bytes(), pk.Body...))
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := proto.DecodeHeader(b)
		if err != nil {
			return
		}
		body := b[proto.HeaderSize:]
		// Every decoder must refuse or accept without panicking.
		proto.DecodeJoinBody(body)
		proto.DecodeStorageStats(body)
		proto.DecodeStoreResp(body)
		proto.DecodeFetchResp(body)
		proto.DecodeSyncReq(body)
		proto.DecodeMetadata(body)
		var g proto.GroupStat
		g.Read(&proto.Reader{B: body})
		var sb proto.StorageBrief
		sb.Read(&proto.Reader{B: body})
		_, _ = proto.ReadResponse(bytes.NewReader(b), 1<<20)
		_ = h
	})
}

func TestClusterAuth(t *testing.T) {
	now := time.Unix(1800000000, 0)
	v := &proto.ClusterAuthVerifier{Secret: "s3cret"}
	b := proto.ClusterAuthBody("s3cret", now)
	require.NoError(t, v.Verify(b, now))
	require.Equal(t, proto.StatusEACCES, proto.StatusOf(v.Verify(b, now)), "replay refused")
	require.Equal(t, proto.StatusEACCES, proto.StatusOf(v.Verify(proto.ClusterAuthBody("wrong", now), now)))
	require.Equal(t, proto.StatusEACCES, proto.StatusOf(v.Verify(proto.ClusterAuthBody("s3cret", now.Add(-time.Hour)), now)))
	require.Equal(t, proto.StatusEINVAL, proto.StatusOf(v.Verify(b[:10], now)))
}
