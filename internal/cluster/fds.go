package cluster

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
)

// fd is one open descriptor of a process, as /proc/<pid>/fd shows it.
type fd struct {
	num    int
	target string // readlink: a path, "socket:[inode]", "pipe:[inode]", "anon_inode:[eventpoll]"…
	inode  uint64 // sockets only
}

// listFDs reads the descriptors of pid. The directory read itself holds one
// descriptor of the reading process, not of pid, so nothing is subtracted.
func listFDs(pid int) ([]fd, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]fd, 0, len(ents))
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed between the listing and the readlink
		}
		f := fd{num: n, target: target}
		if s, ok := strings.CutPrefix(target, "socket:["); ok {
			f.inode, _ = strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].num < out[j].num })
	return out, nil
}

// tcpSock is one line of /proc/net/tcp{,6}.
type tcpSock struct {
	local, remote netip.AddrPort
	state         string
}

// tcpStates names the kernel's TCP states (include/net/tcp_states.h).
var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
	"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

// readTCP maps socket inodes to their endpoints (this network namespace).
func readTCP() map[uint64]tcpSock {
	out := map[uint64]tcpSock{}
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) < 10 {
				continue
			}
			inode, err := strconv.ParseUint(fl[9], 10, 64)
			if err != nil || inode == 0 {
				continue // TIME_WAIT and orphans hold no descriptor
			}
			l, err1 := parseProcAddr(fl[1])
			r, err2 := parseProcAddr(fl[2])
			if err1 != nil || err2 != nil {
				continue
			}
			st := tcpStates[fl[3]]
			if st == "" {
				st = fl[3]
			}
			out[inode] = tcpSock{local: l, remote: r, state: st}
		}
		f.Close()
	}
	return out
}

// parseProcAddr decodes "0100007F:1F90": the address as the kernel's
// 32-bit words in host (little-endian) order, the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b)%4 != 0 {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", s)
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// peerOwner names the process holding the other end of a loopback
// connection: "pid 123 (comm)", or "" when no readable process has it.
func peerOwner(inode uint64) string {
	ents, _ := os.ReadDir("/proc")
	want := fmt.Sprintf("socket:[%d]", inode)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, f := range fds {
			if t, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, f.Name())); t == want {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				if pid == os.Getpid() {
					return fmt.Sprintf("pid %d (this test process)", pid)
				}
				return fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(string(comm)))
			}
		}
	}
	return ""
}
