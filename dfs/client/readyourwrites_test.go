package client

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// rywServe answers every request on addr with handle until the test ends,
// counting requests.
func rywServe(t *testing.T, ln net.Listener, handle func(cmd byte, body []byte) (byte, []byte)) *atomic.Int32 {
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					c.SetDeadline(time.Now().Add(10 * time.Second))
					h, err := proto.ReadHeader(c)
					if err != nil {
						return
					}
					body := make([]byte, h.PkgLen)
					if _, err := io.ReadFull(c, body); err != nil {
						return
					}
					if h.Cmd == proto.CmdQuit {
						return
					}
					n.Add(1)
					st, resp := handle(h.Cmd, body)
					if proto.WriteResponse(c, st, resp) != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return &n
}

// rywListeners listens on the same free port on both addresses.
func rywListeners(t *testing.T, a, b string) (net.Listener, net.Listener, int) {
	for range 50 {
		la, err := net.Listen("tcp", a+":0")
		require.NoError(t, err)
		port := la.Addr().(*net.TCPAddr).Port
		lb, err := net.Listen("tcp", net.JoinHostPort(b, strconv.Itoa(port)))
		if err == nil {
			return la, lb, port
		}
		la.Close()
	}
	t.Fatal("no shared port")
	return nil, nil, 0
}

// TestDownloadRetriesOnSource: a replica that has not received a new file
// yet answers ENOENT; the download is tried once more on the storage named
// in the file ID, and only a missing file there is reported.
func TestDownloadRetriesOnSource(t *testing.T) {
	src, replica, port := rywListeners(t, "127.0.0.3", "127.0.0.4")
	info := fileid.Info{SourceIP: "127.0.0.3", Timestamp: time.Now().Unix(), SizeField: fileid.SizeField(5, false, 7), CRC32: 1}
	remote := fileid.RemoteName(0, 0, 0, info, fileid.FormatExt("txt", func() uint32 { return 1 }))
	id := "group1/" + remote

	var srcHas atomic.Bool
	srcHas.Store(true)
	srcN := rywServe(t, src, func(cmd byte, body []byte) (byte, []byte) {
		if cmd == proto.CmdDownloadFile && srcHas.Load() {
			return 0, []byte("hello")
		}
		return proto.StatusENOENT, nil
	})
	repN := rywServe(t, replica, func(cmd byte, body []byte) (byte, []byte) { return proto.StatusENOENT, nil })
	var answer atomic.Value
	answer.Store("127.0.0.4")
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rywServe(t, tl, func(cmd byte, body []byte) (byte, []byte) {
		if cmd != proto.CmdQueryFetchOne {
			return proto.StatusEINVAL, nil
		}
		return 0, (&proto.FetchResp{Group: "group1", Storages: []proto.StorageAddr{{IP: answer.Load().(string), Port: int64(port)}}}).Encode(16)
	})
	c, err := New(&conf.Client{TrackerServers: []string{tl.Addr().String()}, NetworkTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()

	b, err := c.DownloadBytes(ctx, id, 0, 0)
	require.NoError(t, err)
	require.Equal(t, "hello", string(b))
	require.Equal(t, int32(1), repN.Load())
	require.Equal(t, int32(1), srcN.Load())

	// Missing on the source as well: ENOENT.
	srcHas.Store(false)
	_, err = c.DownloadBytes(ctx, id, 0, 0)
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err))
	require.Equal(t, int32(2), repN.Load())
	require.Equal(t, int32(2), srcN.Load())

	// The tracker named the source itself: no second try.
	answer.Store("127.0.0.3")
	_, err = c.DownloadBytes(ctx, id, 0, 0)
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err))
	require.Equal(t, int32(3), srcN.Load())
	require.Equal(t, int32(2), repN.Load())
}
