package conf

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMetricsAddr(t *testing.T) {
	tr, err := trackerFrom(t, "base_path=/x\n")
	require.NoError(t, err)
	require.Equal(t, "", tr.MetricsAddr)

	tr, err = trackerFrom(t, "base_path=/x\nmetrics_addr=127.0.0.1:9100\n")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9100", tr.MetricsAddr)

	st, err := storageFrom(t, "base_path=/x\ngroup_name=g1\ntracker_server=127.0.0.1:22122\nmetrics_addr=:9101\n")
	require.NoError(t, err)
	require.Equal(t, ":9101", st.MetricsAddr)

	for _, bad := range []string{"9100", "host.example:9100", "127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:x", "[::1"} {
		_, err := trackerFrom(t, "base_path=/x\nmetrics_addr="+bad+"\n")
		require.ErrorContains(t, err, "metrics_addr", bad)
		_, err = storageFrom(t, "base_path=/x\ngroup_name=g1\ntracker_server=127.0.0.1:22122\nmetrics_addr="+bad+"\n")
		require.ErrorContains(t, err, "metrics_addr", bad)
	}
	require.NoError(t, CheckMetricsAddr("[::1]:0"))
}
