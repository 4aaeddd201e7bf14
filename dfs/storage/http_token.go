package storage

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"time"

	"yunpan/dfs/proto"
)

// HTTPTokenLen is the length of an anti-steal token: 32 lower-case hex digits.
const HTTPTokenLen = 32

// HTTPToken is the anti-steal token of docs/protocol.md §10:
// lower_hex(md5(remote || secret || decimal(ts))). remote is the remote
// filename WITHOUT the group ("M00/00/2A/…"), as the FastDFS Nginx module and
// the Java client compute it.
func HTTPToken(remote, secret string, ts int64) string {
	h := md5.New()
	h.Write([]byte(remote))
	h.Write([]byte(secret))
	h.Write([]byte(strconv.FormatInt(ts, 10)))
	return hex.EncodeToString(h.Sum(nil))
}

// CheckHTTPToken verifies the token and ts query values of a download of
// remote (docs/protocol.md §10): a missing value, a token that is not 32 characters or a
// ts that is not a decimal number is EINVAL; ts ≠ 0 older than ttl is
// ETIMEDOUT; ts = 0 never expires; a wrong hash is EPERM. The errors are
// proto.StatusError values (proto.StatusOf gives the errno).
func CheckHTTPToken(remote, token, ts, secret string, ttl time.Duration, now time.Time) error {
	if token == "" || ts == "" {
		return proto.Errf(proto.StatusEINVAL, "token or ts missing")
	}
	if len(token) != HTTPTokenLen {
		return proto.Errf(proto.StatusEINVAL, "token length %d, want %d", min(len(token), 999), HTTPTokenLen)
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || t < 0 {
		return proto.Errf(proto.StatusEINVAL, "ts is not a unix time")
	}
	// The order of the checks is the Nginx module's (docs/protocol.md §10).
	if t != 0 && now.Unix()-t > int64(ttl/time.Second) {
		return proto.Errf(proto.StatusETIMEDOUT, "token expired (ts %d, ttl %s)", t, ttl)
	}
	want := HTTPToken(remote, secret, t)
	if subtle.ConstantTimeCompare([]byte(token), []byte(want)) != 1 {
		return proto.Errf(proto.StatusEPERM, "token mismatch")
	}
	return nil
}
