package storage

import (
	"crypto/md5"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
)

const (
	tokRemote = "M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu812.jpg" // docs/protocol.md §6.11 example as often quoted (one character short)
	tokSecret = "FastDFS1234567890"                           // http.conf's sample key
)

func TestHTTPTokenFormula(t *testing.T) {
	// Known values, computed outside Go: printf '%s' '<remote><secret><ts>' | md5sum
	require.Equal(t, "538d610f2a3428f51c267da666d0abc3", HTTPToken(tokRemote, tokSecret, 1700000000))
	require.Equal(t, "8853ae293197f150ff833b3cda11f64f", HTTPToken(tokRemote, tokSecret, 0))

	// The formula of docs/protocol.md §10, with crypto/md5 directly.
	for _, tc := range []struct {
		remote, secret string
		ts             int64
	}{
		{tokRemote, tokSecret, 1700000000},
		{"M01/FF/00/oYYBAGVT8QCAABI0AAAwOd6tvu8.tar.gz", "", 1},
		{"M00/00/00/x", strings.Repeat("s", 128), 9999999999},
	} {
		sum := md5.Sum([]byte(tc.remote + tc.secret + fmt.Sprint(tc.ts)))
		got := HTTPToken(tc.remote, tc.secret, tc.ts)
		require.Equal(t, fmt.Sprintf("%x", sum), got)
		require.Len(t, got, HTTPTokenLen)
		require.Equal(t, strings.ToLower(got), got)
	}
	// The group is not part of the protected string (docs/protocol.md §10).
	require.NotEqual(t, HTTPToken("group1/"+tokRemote, tokSecret, 1), HTTPToken(tokRemote, tokSecret, 1))
}

// The verification table of docs/protocol.md §10.
func TestCheckHTTPToken(t *testing.T) {
	now := time.Unix(1700000000, 0)
	ttl := 600 * time.Second
	good := func(ts int64) string { return HTTPToken(tokRemote, tokSecret, ts) }
	check := func(token, ts string) byte {
		return proto.StatusOf(CheckHTTPToken(tokRemote, token, ts, tokSecret, ttl, now))
	}
	ts := func(v int64) string { return fmt.Sprint(v) }

	require.Equal(t, proto.StatusOK, check(good(now.Unix()), ts(now.Unix())))
	require.Equal(t, proto.StatusOK, check(good(now.Unix()-600), ts(now.Unix()-600)), "exactly ttl old is still valid")
	require.Equal(t, proto.StatusOK, check(good(now.Unix()+3600), ts(now.Unix()+3600)), "a future ts is not expired")
	require.Equal(t, proto.StatusOK, check(good(0), "0"), "ts=0 never expires")
	require.Equal(t, proto.StatusOK, check(good(0), "000"), "ts is a number")

	require.Equal(t, proto.StatusEINVAL, check("", ts(now.Unix())), "token missing")
	require.Equal(t, proto.StatusEINVAL, check(good(now.Unix()), ""), "ts missing")
	require.Equal(t, proto.StatusEINVAL, check(good(now.Unix())[:31], ts(now.Unix())), "short token")
	require.Equal(t, proto.StatusEINVAL, check(good(now.Unix())+"0", ts(now.Unix())), "long token")
	require.Equal(t, proto.StatusEINVAL, check(good(now.Unix()), "12abc"), "ts not a number")
	require.Equal(t, proto.StatusEINVAL, check(good(now.Unix()), "-5"), "negative ts")

	require.Equal(t, proto.StatusETIMEDOUT, check(good(now.Unix()-601), ts(now.Unix()-601)), "expired")
	require.Equal(t, proto.StatusEPERM, check(good(now.Unix()-1), ts(now.Unix())), "hash of another ts")
	require.Equal(t, proto.StatusEPERM, check(strings.ToUpper(good(0)), "0"), "tokens are lower-case hex")
	require.Equal(t, proto.StatusEPERM, check(HTTPToken(tokRemote, "other", 0), "0"), "other secret")
	require.Equal(t, proto.StatusEPERM, check(HTTPToken("group1/"+tokRemote, tokSecret, 0), "0"),
		"a token over the full file ID (fdfs_test's URLs) fails, as in the Nginx module")
}
