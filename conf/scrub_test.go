package conf

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseScrubPeriod(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "7d": 7 * 24 * time.Hour, "12h": 12 * time.Hour, "30m": 30 * time.Minute, "90s": 90 * time.Second, "90": 90 * time.Second,
	} {
		got, err := ParsePeriod(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "d", "-1d", "1w", "x"} {
		_, err := ParsePeriod(in)
		require.Error(t, err, in)
	}
}

func TestVerifyInterval(t *testing.T) {
	for text, want := range map[string]time.Duration{
		"": DefaultVerifyInterval, "verify_interval = 0\n": 0, "verify_interval = 1h\n": time.Hour,
	} {
		st, err := storageFrom(t, minStorage+text)
		require.NoError(t, err, text)
		require.Equal(t, want, st.VerifyInterval, text)
	}
	_, err := storageFrom(t, minStorage+"verify_interval = soon\n")
	require.ErrorContains(t, err, "verify_interval")
}
