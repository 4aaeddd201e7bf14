package storage

import (
	"io"
	"net"
	"testing"
	"time"

	"yunpan/dfs/proto"
	"yunpan/internal/vectors"
)

// appenderCmds are the commands FuzzAppenderRequest drives.
var appenderCmds = []byte{proto.CmdUploadSlaveFile, proto.CmdAppendFile, proto.CmdModifyFile,
	proto.CmdTruncateFile, proto.CmdRegenerateAppenderFilename}

// FuzzAppenderRequest sends arbitrary bodies of the slave and appender
// commands to a storage holding a real appender file and a real master
// file. The server must answer with a well-formed header or close, never
// panic or hang, leave no lock entry and no stray file behind.
func FuzzAppenderRequest(f *testing.F) {
	o := testOpts(f)
	o.SubdirCountPerPath = 2
	o.NetworkTimeout = 2 * time.Second
	o.BuffSize = 64 << 10
	s := start(f, o)
	c := dial(f, s)
	app := uploadAppender(f, c, []byte("0123456789"))
	master := upload(f, c, 0, "txt", []byte("master"))
	c.Close()

	for _, name := range []string{"09", "10", "12"} {
		sc, err := vectors.Load(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, cn := range sc.Conns {
			for _, p := range cn.Packets {
				if p.FromClient {
					for i, cmd := range appenderCmds {
						if p.Header.Cmd == cmd {
							f.Add(byte(i), p.Header.Status, p.Body)
						}
					}
				}
			}
		}
	}
	f.Add(byte(0), byte(0), slaveBody(master, "_s", "txt", []byte("slave")))
	f.Add(byte(0), byte(0), slaveBody(master, "a/b", "txt", nil))
	f.Add(byte(1), byte(0), appendBody(app, []byte("more")))
	f.Add(byte(2), byte(0), modifyBody(app, 3, []byte("xyz")))
	f.Add(byte(2), byte(0), modifyBody(app, 1<<40, []byte("xyz")))
	f.Add(byte(3), byte(0), truncateBody(app, 2))
	f.Add(byte(3), byte(0), truncateBody(app, -5))
	f.Add(byte(4), byte(0), []byte(app))

	f.Fuzz(func(t *testing.T, which, status byte, body []byte) {
		cmd := appenderCmds[int(which)%len(appenderCmds)]
		cli, srv := net.Pipe()
		defer cli.Close()
		s.accept(srv)
		cli.SetDeadline(time.Now().Add(5 * time.Second))
		go func() { proto.WritePacket(cli, cmd, status, body) }()
		if h, err := proto.ReadHeader(cli); err == nil {
			if h.Cmd != proto.CmdResp || h.Status != 0 && h.PkgLen != 0 || h.PkgLen > 256 {
				t.Fatalf("answer %+v", h)
			}
			if _, err := io.CopyN(io.Discard, cli, h.PkgLen); err != nil {
				t.Fatalf("answer body: %v", err)
			}
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("no answer and connection still open")
		}
		cli.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			s.mu.Lock()
			n := len(s.conns)
			s.mu.Unlock()
			if n == 0 && s.appLocks.size() == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("connection or lock still held after close")
			}
			time.Sleep(time.Millisecond)
		}
		if n := s.panics.Load(); n != 0 {
			t.Fatalf("%d handler panics", n)
		}
		checkTree(t, o.BasePath)
	})
}
