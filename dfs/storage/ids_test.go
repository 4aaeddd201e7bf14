package storage

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// TestStorageIDsFromTracker: with use_storage_id and id_type_in_filename=id
// on the tracker, a storage without server_id finds its own ID in the list
// it fetches (by group, address and port), joins under it, and names new
// files after it; one with server_id sends that.
func TestStorageIDsFromTracker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.61:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	text := fmt.Sprintf("4711 group1 127.0.0.61:%d\n4712 group1 127.0.0.62\n", port)
	for i := 0; i < 200; i++ { // several FETCH_STORAGE_IDS pages
		text += fmt.Sprintf("%d group9 10.9.0.%d\n", 5000+i, i+1)
	}
	ids, err := conf.ParseStorageIDs([]byte(text))
	require.NoError(t, err)
	topts := trackerOpts(t)
	topts.UseStorageID, topts.StorageIDs, topts.IDTypeInFilename = true, ids, "id"
	topts.MaxBuffSize = 2048
	tr, _ := runTracker(t, topts)

	o := testOpts(t)
	o.BindAddr, o.Port = "127.0.0.61", port
	o.TrackerServers = []string{tr.Addr().String()}
	s := start(t, o)
	st := waitStorage(t, tr.Addr().String(), "127.0.0.61", 10*time.Second, "ACTIVE under its ID",
		func(st proto.StorageStat) bool { return st.Status == proto.StatusActive })
	require.Equal(t, "4711", st.ID)
	require.Equal(t, "4711", s.serverID())

	remote := upload(t, dial(t, s), 0, "txt", []byte("hello ids"))
	info, _, err := fileid.Decode(remote)
	require.NoError(t, err)
	require.EqualValues(t, 4711, info.SourceID)
	require.Empty(t, info.SourceIP)

	// server_id wins over the address (here not even listed on this port).
	o2 := testOpts(t)
	o2.BindAddr, o2.ServerID = "127.0.0.62", "4712"
	o2.TrackerServers = []string{tr.Addr().String()}
	start(t, o2)
	st = waitStorage(t, tr.Addr().String(), "127.0.0.62", 10*time.Second, "ACTIVE as 4712",
		func(st proto.StorageStat) bool { return st.Status == proto.StatusActive })
	require.Equal(t, "4712", st.ID)
}
