package conf

import (
	"fmt"
	"strconv"
	"strings"
)

// Default ports of the two daemons.
const (
	DefaultTrackerPort = 22122
	DefaultStoragePort = 23000
	MaxTrackers        = 16 // FastDFS's limit on tracker_server entries
	maxHostLen         = 128
)

// HostPort is a parsed "host[:port]" as used by tracker_server and
// storage_ids.conf: one host or two ("inner,outer"), IPv6 in brackets.
type HostPort struct {
	Hosts     []string // one or two hosts, without brackets
	Port      int
	PortSet   bool // the text carried an explicit port
	Bracketed bool // written as "[...]" (IPv6 form)
}

// String formats it back: "h:p", "h1,h2:p", "[v6]:p" or "[a,b]:p".
func (h HostPort) String() string {
	host := strings.Join(h.Hosts, ",")
	if h.Bracketed {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(h.Port)
}

// ParseHostPort parses "host[:port]", "ip1,ip2[:port]" or "[v6[,v6]][:port]".
// A missing port becomes defPort.
func ParseHostPort(s string, defPort int) (HostPort, error) {
	s = strings.Trim(s, trimSet)
	hp := HostPort{Port: defPort}
	if s == "" {
		return hp, fmt.Errorf("empty address")
	}
	var hosts, port string
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return hp, fmt.Errorf("address %q: missing ']'", cut(s, 60))
		}
		hosts, hp.Bracketed = s[1:end], true
		rest := s[end+1:]
		switch {
		case rest == "":
		case rest[0] == ':':
			port, hp.PortSet = rest[1:], true
		default:
			return hp, fmt.Errorf("address %q: unexpected text after ']'", cut(s, 60))
		}
	} else {
		hosts = s
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			hosts, port, hp.PortSet = s[:i], s[i+1:], true
		}
		if strings.ContainsRune(hosts, ':') {
			return hp, fmt.Errorf("address %q: an IPv6 address must be written in brackets, e.g. [::1]:%d", cut(s, 60), defPort)
		}
	}
	if hp.PortSet {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '+' || port[0] == '-' {
			return hp, fmt.Errorf("address %q: port must be 1..65535", cut(s, 60))
		}
		hp.Port = n
	}
	parts := strings.Split(hosts, ",")
	if len(parts) > 2 {
		return hp, fmt.Errorf("address %q: at most two hosts (inner,outer)", cut(s, 60))
	}
	for i, p := range parts {
		p = strings.Trim(p, trimSet)
		if p == "" {
			return hp, fmt.Errorf("address %q: empty host", cut(s, 60))
		}
		if len(p) > maxHostLen || strings.ContainsAny(p, " \t[]/") {
			return hp, fmt.Errorf("address %q: invalid host %q", cut(s, 60), cut(p, 60))
		}
		parts[i] = p
	}
	hp.Hosts = parts
	return hp, nil
}

// NormalizeHostPort returns s as "host:port" with the port defaulted
// (IPv6 and dual-IP forms kept as written, e.g. "[::1]:22122", "a,b:22122").
func NormalizeHostPort(s string, defPort int) (string, error) {
	hp, err := ParseHostPort(s, defPort)
	if err != nil {
		return "", err
	}
	return hp.String(), nil
}
