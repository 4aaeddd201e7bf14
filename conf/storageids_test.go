package conf

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseStorageIDs(t *testing.T) {
	ids, err := ParseStorageIDs([]byte(strings.Join([]string{
		"# comment",
		"",
		"100001   group1  192.168.0.196",
		"100002\tgroup1\t192.168.0.197:23001",
		"  100003 group2 [2001:db8::5]:23002  rw=read",
		"100004 group2 10.0.0.5,203.0.113.7 rw=writeonly",
		"7 g3 [fd00::1,2001:db8::7] rw=ALL",
		"8 g3 host.example.com rw=none",
		"9 g3 h9 rw=readonly",
	}, "\n")))
	require.NoError(t, err)
	require.Len(t, ids, 7)

	require.Equal(t, StorageIDEntry{ID: "100001", Group: "group1",
		Addr: HostPort{Hosts: []string{"192.168.0.196"}, Port: 23000}, RW: RWBoth}, ids[0])
	require.Equal(t, uint32(100001), ids[0].IDNum())
	require.Equal(t, []string{"192.168.0.196"}, ids[0].IPs())
	require.Equal(t, 23001, ids[1].Addr.Port)
	require.Equal(t, RWRead, ids[2].RW)
	require.Equal(t, []string{"2001:db8::5"}, ids[2].IPs())
	require.Equal(t, RWWrite, ids[3].RW)
	require.Equal(t, []string{"10.0.0.5", "203.0.113.7"}, ids[3].IPs())
	require.Equal(t, RWBoth, ids[4].RW)
	require.Equal(t, RWNone, ids[5].RW)
	require.Equal(t, RWRead, ids[6].RW)

	lines := make([]string, len(ids))
	for i, e := range ids {
		lines[i] = e.Line()
	}
	require.Equal(t, []string{
		"100001 group1 192.168.0.196",
		"100002 group1 192.168.0.197:23001",
		"100003 group2 [2001:db8::5]:23002 rw=read",
		"100004 group2 10.0.0.5,203.0.113.7 rw=write",
		"7 g3 [fd00::1,2001:db8::7]",
		"8 g3 host.example.com rw=none",
		"9 g3 h9 rw=read",
	}, lines)

	// Every line re-parses to the same entry.
	again, err := ParseStorageIDs([]byte(strings.Join(lines, "\n")))
	require.NoError(t, err)
	require.Equal(t, ids, again)
}

func TestParseStorageIDsErrors(t *testing.T) {
	for _, bad := range []string{
		"100001 group1",
		"100001 group1 1.2.3.4 rw=both extra",
		"0 group1 1.2.3.4",
		"16777216 group1 1.2.3.4",
		"-1 group1 1.2.3.4",
		"abc group1 1.2.3.4",
		"1 group_1 1.2.3.4",
		"1 groupnametoolong17 1.2.3.4",
		"1 g 1.2.3.4:0",
		"1 g ::1",
		"1 g 1.2.3.4 mode=both",
		"1 g 1.2.3.4 rw=sometimes",
		"1 g 1.2.3.4 # trailing comments are not allowed",
		"1 g 1.2.3.4\n1 g 1.2.3.5",       // duplicate id
		"1 g 1.2.3.4\n2 g 1.2.3.4:23000", // duplicate address in a group
	} {
		_, err := ParseStorageIDs([]byte(bad))
		require.Error(t, err, "%q", bad)
		require.Contains(t, err.Error(), "line ")
	}
	// The same IP in two groups, or on two ports, is fine.
	_, err := ParseStorageIDs([]byte("1 g 1.2.3.4\n2 h 1.2.3.4\n3 g 1.2.3.4:23001\n16777215 g x\n"))
	require.NoError(t, err)
}

func TestLoadStorageIDsSample(t *testing.T) {
	ids, err := LoadStorageIDs("storage_ids.conf")
	require.NoError(t, err)
	require.Len(t, ids, 1)
	require.Equal(t, "100001 group1 127.0.0.1", ids[0].Line())
	_, err = LoadStorageIDs(filepath.Join(t.TempDir(), "none.conf"))
	require.ErrorContains(t, err, "storage ids")
}
