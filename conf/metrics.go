package conf

import (
	"net"
	"strconv"
)

// metrics_addr (yunpan's key, in tracker.conf and storage.conf; FastDFS
// ignores it) is "host:port" of a separate HTTP listener answering
// GET /metrics in the Prometheus text format. Empty, the default, means no
// listener. The host may be empty ("":9100 = all addresses) or an IP; a
// host name is refused, so the daemon never resolves names at start.

// MetricsAddrKey is the config key of the metrics listener.
const MetricsAddrKey = "metrics_addr"

// metricsAddr reads and checks metrics_addr of the current section.
func (r *fields) metricsAddr() string {
	v := r.s.String(MetricsAddrKey, "")
	if v == "" {
		return ""
	}
	if err := CheckMetricsAddr(v); err != nil {
		r.fail("%s: %q: %v", MetricsAddrKey, cut(v, 60), err)
		return ""
	}
	return v
}

// CheckMetricsAddr validates a metrics listener address "[ip]:port" (port
// 1..65535; 0 is allowed only for tests that read the bound address back).
func CheckMetricsAddr(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return err
	}
	if host != "" && net.ParseIP(host) == nil {
		return errHost
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || port[0] == '+' || port[0] == '-' {
		return errPort
	}
	return nil
}

type confError string

func (e confError) Error() string { return string(e) }

const (
	errHost confError = "host must be empty or an IP address"
	errPort confError = "port must be 0..65535"
)
