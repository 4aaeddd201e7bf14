// Package allow is the allow_hosts filter shared by the tracker and the
// storage (docs/protocol.md §1.5, §8.2, §8.3): "*", exact IPs, CIDR blocks and FastDFS's
// last-octet ranges such as 10.0.1.[1-15,20]. A peer it refuses is
// disconnected as soon as it is accepted.
package allow

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// List is a parsed allow_hosts. The zero value allows nobody; Parse of no
// entries or of "*" allows everybody.
type List struct {
	all  bool
	ips  map[string]bool
	nets []*net.IPNet
}

// maxRangeHosts bounds what bracket ranges may expand to (one /24 per entry
// at most anyway; this guards against many entries).
const maxRangeHosts = 1 << 16

// Parse reads allow_hosts entries. An empty list means "*", as FastDFS's
// default is.
func Parse(entries []string) (*List, error) {
	a := &List{ips: map[string]bool{}}
	n := 0
	for _, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
		case e == "*":
			a.all = true
		case strings.Contains(e, "/"):
			_, nw, err := net.ParseCIDR(e)
			if err != nil {
				return nil, fmt.Errorf("allow_hosts %q: %w", e, err)
			}
			a.nets = append(a.nets, nw)
			n++
		case strings.HasSuffix(e, "]") && strings.Contains(e, "["):
			ips, err := expandRange(e)
			if err != nil {
				return nil, err
			}
			if len(a.ips)+len(ips) > maxRangeHosts {
				return nil, fmt.Errorf("allow_hosts %q: more than %d addresses in total", e, maxRangeHosts)
			}
			for _, ip := range ips {
				a.ips[ip] = true
			}
			n++
		default:
			ip := net.ParseIP(e)
			if ip == nil {
				return nil, fmt.Errorf("allow_hosts %q: not an IP, CIDR or range", e)
			}
			a.ips[canon(ip)] = true
			n++
		}
	}
	if n == 0 {
		a.all = true
	}
	return a, nil
}

// expandRange expands "a.b.c.[1-15,20]" into its addresses.
func expandRange(e string) ([]string, error) {
	i := strings.IndexByte(e, '[')
	prefix, list := e[:i], e[i+1:len(e)-1]
	if strings.Count(prefix, ".") != 3 || !strings.HasSuffix(prefix, ".") ||
		net.ParseIP(prefix+"0") == nil || net.ParseIP(prefix+"0").To4() == nil {
		return nil, fmt.Errorf("allow_hosts %q: range only on the last IPv4 octet", e)
	}
	var out []string
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 0 || b > 255 || a > b {
			return nil, fmt.Errorf("allow_hosts %q: bad range %q", e, part)
		}
		for n := a; n <= b; n++ {
			out = append(out, prefix+strconv.Itoa(n))
		}
	}
	return out, nil
}

func canon(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}

// All reports whether every peer is allowed.
func (a *List) All() bool { return a != nil && a.all }

// Allows reports whether the peer with IP text ipText may connect.
func (a *List) Allows(ipText string) bool {
	if a == nil {
		return false
	}
	if a.all {
		return true
	}
	ip := net.ParseIP(ipText)
	if ip == nil {
		return false
	}
	if a.ips[canon(ip)] {
		return true
	}
	for _, n := range a.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// AllowsAddr is Allows for a connection's remote address.
func (a *List) AllowsAddr(addr net.Addr) bool {
	if a.All() {
		return true
	}
	switch t := addr.(type) {
	case *net.TCPAddr:
		return a.Allows(canon(t.IP))
	case nil:
		return false
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		host = addr.String()
	}
	return a.Allows(host)
}
