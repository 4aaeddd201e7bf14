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
