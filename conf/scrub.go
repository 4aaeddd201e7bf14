package conf

import (
	"strconv"
	"strings"
	"time"
)

// scrub_period (yunpan extension): the storage reads every stored file
// once within this period, rate-limited to spread the reads over it, and
// checks it against the CRC32 in its name; damage is logged, counted and
// healed from another storage of the group. A number with an optional unit
// s, m, h or d (no unit: seconds); 0, the default, turns the periodic
// reading off.

// scrubPeriod reads scrub_period.
func (r *fields) scrubPeriod() time.Duration { return r.period("scrub_period", "0") }

// verify_interval (yunpan extension): a download checks a file against the
// CRC32 in its name before it is sent, and that check stands for this
// long while the file is unchanged (same inode, ctime and size), so hot
// files are not read twice for every download. Units as scrub_period;
// default 10m; 0 checks every download.

// DefaultVerifyInterval is verify_interval's default.
const DefaultVerifyInterval = 10 * time.Minute

// verifyInterval reads verify_interval.
func (r *fields) verifyInterval() time.Duration { return r.period("verify_interval", "10m") }

// period reads a duration key in ParsePeriod's form.
func (r *fields) period(key, def string) time.Duration {
	d, err := ParsePeriod(strings.TrimSpace(r.s.String(key, def)))
	if err != nil {
		r.fail("%s: %v", key, err)
		return 0
	}
	return d
}

// ParsePeriod parses "7d", "12h", "30m", "90s" or "90" (seconds).
func ParsePeriod(v string) (time.Duration, error) {
	unit := time.Second
	if v != "" {
		switch v[len(v)-1] {
		case 'd', 'D':
			unit, v = 24*time.Hour, v[:len(v)-1]
		case 'h', 'H':
			unit, v = time.Hour, v[:len(v)-1]
		case 'm', 'M':
			unit, v = time.Minute, v[:len(v)-1]
		case 's', 'S':
			v = v[:len(v)-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > int64(1<<62)/int64(unit) {
		return 0, strconv.ErrSyntax
	}
	return time.Duration(n) * unit, nil
}
