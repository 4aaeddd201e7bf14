package client

import (
	"context"
	"net"
	"testing"
	"time"

	"yunpan/conf"
)

// FuzzFileInfo feeds arbitrary file IDs to the §6.10 decoder. The tracker
// is unreachable, so any answer must have been decoded locally, and bad IDs
// must fail cleanly rather than panic.
func FuzzFileInfo(f *testing.F) {
	for _, s := range []string{
		helloID,
		"group1/M00/0B/00/fwAAAWsG8PeAULFrAAABLBtDLRM052_big.txt", // slave (scenario 12)
		"group1/M00/0B/00/fwAAAWsG8PGEbDYcAAAAAD1Q9pE766.txt",     // appender (scenario 08)
		"group1/M00/00/2A/oYYBAGVT8QCAABI0AAAwOd6tvu812.jpg",      // server ID source (§6.11)
		"group1/short", "/M00", "", "g/M00/00/00/!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
	} {
		f.Add(s)
	}
	ln := deadAddrF(f)
	c, err := New(&conf.Client{TrackerServers: []string{ln}, ConnectTimeout: time.Second, NetworkTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(c.Close)
	f.Fuzz(func(t *testing.T, id string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		fi, err := c.FileInfo(ctx, id, 0)
		if err == nil && fi.GetFromServer {
			t.Fatalf("%q: got server info from an unreachable tracker", id)
		}
	})
}

func deadAddrF(f *testing.F) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	a := ln.Addr().String()
	_ = ln.Close()
	return a
}
