package conf

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalizeHostPort(t *testing.T) {
	ok := map[string]string{
		"127.0.0.1":                "127.0.0.1:22122",
		"127.0.0.1:22123":          "127.0.0.1:22123",
		" tracker.example.com ":    "tracker.example.com:22122",
		"10.0.0.5,203.0.113.7":     "10.0.0.5,203.0.113.7:22122",
		"10.0.0.5,203.0.113.7:900": "10.0.0.5,203.0.113.7:900",
		"10.0.0.5, 203.0.113.7:9":  "10.0.0.5,203.0.113.7:9",
		"[::1]":                    "[::1]:22122",
		"[::1]:23":                 "[::1]:23",
		"[2001:db8::1,fe80::1]:77": "[2001:db8::1,fe80::1]:77",
		"[1.2.3.4]:5":              "[1.2.3.4]:5",
		"h:65535":                  "h:65535",
	}
	for in, want := range ok {
		got, err := NormalizeHostPort(in, DefaultTrackerPort)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "  ", "::1", "2001:db8::1:22122", "h:0", "h:65536", "h:", "h:x",
		"h:-1", "h:+1", "[::1", "[::1]x", "[::1]:", "[]:1", "a,b,c:1", ",b:1", "a,:1", ":22122",
		"a b:1", "[a]b]:1", "a/b:1"} {
		_, err := NormalizeHostPort(bad, DefaultTrackerPort)
		require.Error(t, err, "%q", bad)
	}
	hp, err := ParseHostPort("[fd00::1,2001:db8::2]", DefaultStoragePort)
	require.NoError(t, err)
	require.Equal(t, HostPort{Hosts: []string{"fd00::1", "2001:db8::2"}, Port: 23000, Bracketed: true}, hp)
	hp, err = ParseHostPort("a:1", DefaultStoragePort)
	require.NoError(t, err)
	require.True(t, hp.PortSet)
	require.Equal(t, 1, hp.Port)
}
