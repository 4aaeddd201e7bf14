package conf

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultReserved is FastDFS's code default for reserved_storage_space.
func DefaultReserved() Reserved { return Reserved{MB: 1024, Text: "1024MB"} }

// ParseReserved parses reserved_storage_space (docs/protocol.md §7.4): a percentage
// ("20%", "12.5%", strictly between 0 and 100) or a byte size converted to
// MB ("10G", "500M", "4096K", "1T"; a plain number is bytes).
func ParseReserved(text string) (Reserved, error) {
	v := strings.Trim(text, trimSet)
	if v == "" {
		return Reserved{}, fmt.Errorf("reserved_storage_space: empty value")
	}
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		// Digits and one dot only: ParseFloat would also take "NaN", "Inf", hex and exponents.
		if pct == "" || strings.Trim(pct, "0123456789.") != "" || strings.Count(pct, ".") > 1 || pct == "." {
			return Reserved{}, fmt.Errorf("reserved_storage_space %q: invalid percentage", cut(v, 40))
		}
		f, err := strconv.ParseFloat(pct, 64)
		if err != nil || f <= 0 || f >= 100 {
			return Reserved{}, fmt.Errorf("reserved_storage_space %q: percentage must be > 0 and < 100", cut(v, 40))
		}
		r := Reserved{Ratio: f / 100}
		r.Text = fmt.Sprintf("%.2f%%", r.Ratio*100)
		return r, nil
	}
	n, err := ParseBytes(v)
	if err != nil {
		return Reserved{}, fmt.Errorf("reserved_storage_space: %w", err)
	}
	if n < 0 {
		return Reserved{}, fmt.Errorf("reserved_storage_space %q: negative", cut(v, 40))
	}
	mb := n / (1 << 20)
	return Reserved{MB: mb, Text: strconv.FormatInt(mb, 10) + "MB"}, nil
}

// IsRatio reports whether the reserve is a percentage of each path's size.
func (r Reserved) IsRatio() bool { return r.Ratio > 0 }

// ReservedMB is the reserve in MB for a disk (or group) of totalMB: the
// absolute amount, or totalMB × ratio (truncated) for a percentage.
func (r Reserved) ReservedMB(totalMB int64) int64 {
	if r.Ratio > 0 {
		return int64(float64(totalMB) * r.Ratio)
	}
	return r.MB
}

// String is the text FastDFS sends in PARAMETER_REQ ("20.00%" or "1024MB").
func (r Reserved) String() string {
	if r.Text != "" {
		return r.Text
	}
	if r.Ratio > 0 {
		return fmt.Sprintf("%.2f%%", r.Ratio*100)
	}
	return strconv.FormatInt(r.MB, 10) + "MB"
}
