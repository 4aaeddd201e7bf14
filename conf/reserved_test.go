package conf

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseReserved(t *testing.T) {
	cases := []struct {
		in    string
		mb    int64
		ratio float64
		text  string
	}{
		{"20%", 0, 0.20, "20.00%"},
		{"12.5%", 0, 0.125, "12.50%"},
		{"20.00%", 0, 0.20, "20.00%"},
		{"0.01%", 0, 0.0001, "0.01%"},
		{"99.99%", 0, 0.9999, "99.99%"},
		{"10G", 10240, 0, "10240MB"},
		{"10g", 10240, 0, "10240MB"},
		{"500M", 500, 0, "500MB"},
		{"1024MB", 1024, 0, "1024MB"},
		{"4096K", 4, 0, "4MB"},
		{"1T", 1 << 20, 0, "1048576MB"},
		{"1024", 0, 0, "0MB"}, // a plain number is bytes
		{"1073741824", 1024, 0, "1024MB"},
		{"0", 0, 0, "0MB"},
		{" 2G ", 2048, 0, "2048MB"},
	}
	for _, c := range cases {
		r, err := ParseReserved(c.in)
		require.NoError(t, err, c.in)
		require.Equal(t, c.mb, r.MB, c.in)
		require.InDelta(t, c.ratio, r.Ratio, 1e-12, c.in)
		require.Equal(t, c.text, r.Text, c.in)
		require.Equal(t, c.text, r.String(), c.in)
		require.Equal(t, c.ratio > 0, r.IsRatio(), c.in)
	}
	for _, bad := range []string{"", "%", "0%", "100%", "150%", "-5%", "NaN%", "Inf%", "1e1%", "0x10%",
		"1.2.3%", ".%", "abc", "10 G", "5X", "-1G", "99999999999999999999"} {
		_, err := ParseReserved(bad)
		require.Error(t, err, "%q", bad)
		require.Contains(t, err.Error(), "reserved_storage_space")
	}
}

func TestReservedMB(t *testing.T) {
	r, err := ParseReserved("20%")
	require.NoError(t, err)
	require.Equal(t, int64(200), r.ReservedMB(1000))
	require.Equal(t, int64(0), r.ReservedMB(0))
	r, err = ParseReserved("12.5%")
	require.NoError(t, err)
	require.Equal(t, int64(12), r.ReservedMB(99)) // truncated
	abs := DefaultReserved()
	require.Equal(t, int64(1024), abs.ReservedMB(50))
	require.Equal(t, "1024MB", abs.String())
	// Zero value and hand-built values still format.
	require.Equal(t, "0MB", Reserved{}.String())
	require.Equal(t, "30.00%", Reserved{Ratio: 0.3}.String())
}
