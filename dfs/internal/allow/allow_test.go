package allow

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAndAllows(t *testing.T) {
	a, err := Parse([]string{"10.0.1.[1-3,20]", "192.168.0.0/16", "127.0.0.5", " ::1 "})
	require.NoError(t, err)
	for ip, want := range map[string]bool{
		"10.0.1.1": true, "10.0.1.3": true, "10.0.1.4": false, "10.0.1.20": true,
		"192.168.44.9": true, "192.169.0.1": false, "127.0.0.5": true, "127.0.0.6": false,
		"::1": true, "::ffff:127.0.0.5": true, "garbage": false, "": false,
	} {
		require.Equal(t, want, a.Allows(ip), ip)
	}
	require.False(t, a.All())
	require.True(t, a.AllowsAddr(&net.TCPAddr{IP: net.ParseIP("10.0.1.2"), Port: 9}))
	require.False(t, a.AllowsAddr(&net.TCPAddr{IP: net.ParseIP("10.0.2.2"), Port: 9}))
	require.False(t, a.AllowsAddr(nil))
}

func TestDefaultsAllowAll(t *testing.T) {
	for _, in := range [][]string{nil, {}, {"*"}, {"", " "}, {"10.0.0.1", "*"}} {
		a, err := Parse(in)
		require.NoError(t, err)
		require.True(t, a.All(), "%q", in)
		require.True(t, a.Allows("8.8.8.8"))
	}
	var zero *List
	require.False(t, zero.Allows("127.0.0.1"))
}

func TestParseErrors(t *testing.T) {
	for _, e := range []string{"10.0.1.[5-1]", "10.0.1.[1-300]", "10.0.[1-2]", "10.0.1.[a]", "1.2.3.4/40", "host.example", "10.0.1.[]"} {
		_, err := Parse([]string{e})
		require.Error(t, err, e)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"*", "10.0.1.[1-15,20]", "192.168.0.0/16", "127.0.0.1", "::1", "1.2.3.[0-255]"} {
		f.Add(s, "10.0.1.7")
	}
	f.Fuzz(func(t *testing.T, entry, ip string) {
		a, err := Parse([]string{entry})
		if err != nil {
			return
		}
		a.Allows(ip)
	})
}
