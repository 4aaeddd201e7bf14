package storage

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
)

// TestScrubPassFindsDamage: with no download asking, a scrub pass reads
// every file, finds the one whose content no longer matches its name and,
// with no other storage in the group to heal it from, moves it to the
// store path's quarantine directory; intact files stay.
func TestScrubPassFindsDamage(t *testing.T) {
	o := testOpts(t)
	o.ScrubPeriod = 200 * time.Millisecond
	s := start(t, o)
	c := dial(t, s)
	var remotes []string
	for _, n := range []int{10, 100 << 10, 600 << 10} {
		data := make([]byte, n)
		rand.Read(data)
		remotes = append(remotes, upload(t, c, 0, "bin", data))
	}
	waitFor(t, 10*time.Second, "a clean pass", func() bool { return s.scrub.checked.Load() >= 3 })
	require.Zero(t, s.scrub.damaged.Load())

	damaged := remotes[2]
	flipOnDisk(t, s, damaged)
	waitFor(t, 10*time.Second, "the damage found", func() bool { return s.scrub.damaged.Load() == 1 })
	_, path, err := s.parseRemote(damaged)
	require.NoError(t, err)
	waitFor(t, 10*time.Second, "the damaged file moved away", func() bool {
		_, err := os.Stat(path)
		return os.IsNotExist(err)
	})
	q, err := os.ReadDir(filepath.Join(s.paths[0].root, "quarantine"))
	require.NoError(t, err)
	require.Len(t, q, 1)
	require.Equal(t, strings.ReplaceAll(damaged, "/", "_"), q[0].Name())
	h, _ := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", damaged, 0, 0))
	require.Equal(t, proto.StatusENOENT, h.Status)
	for _, r := range remotes[:2] {
		h, _ := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", r, 0, 0))
		require.Zero(t, h.Status)
	}
	require.Zero(t, s.scrub.healed.Load())
}

// A pass paces its reads over the period by the bytes it counted first;
// files that came after the count do not push it past the period's end.
func TestScrubPassDue(t *testing.T) {
	start := time.Unix(1700000000, 0)
	require.Equal(t, start.Add(30*time.Second), passDue(start, time.Minute, 5, 10))
	require.Equal(t, start.Add(time.Minute), passDue(start, time.Minute, 600<<10, 10))
}
