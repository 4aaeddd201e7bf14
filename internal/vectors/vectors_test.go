package vectors

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadAll(t *testing.T) {
	for _, p := range []string{"01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "20"} {
		s, err := Load(p)
		require.NoError(t, err, p)
		for _, c := range s.Conns {
			for _, pk := range c.Packets {
				// Scenario 20 cuts bodies at 4096 bytes; everything else is whole.
				if p != "20" {
					require.EqualValues(t, pk.Header.PkgLen, len(pk.Body), "%s %v", p, pk.Header)
				}
			}
		}
	}
	s, err := Load("01")
	require.NoError(t, err)
	require.Len(t, s.Conns, 2)
	require.Equal(t, []string{"group1/M00/0B/00/fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt"}, s.Output)
}
