package proto

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// CmdClusterAuth is a yunpan extension to the FastDFS protocol: with a
// cluster secret configured (`cluster_secret` in tracker.conf and
// storage.conf), a storage must prove it knows the secret on every
// connection it opens to a tracker or to another storage, before any
// storage-only command (JOIN, BEAT, SYNC_*, …). Without a secret nothing
// changes on the wire, so plain FastDFS peers keep working.
//
// Request body (56 bytes): i64be unix time, 16 random bytes, and
// HMAC-SHA256(secret, "yunpan-cluster-v1" || time || nonce). Response: status
// 0, or EACCES and the connection is closed.
const CmdClusterAuth = 120

// ClusterAuthSize is the body size of CmdClusterAuth.
const ClusterAuthSize = 8 + 16 + sha256.Size

// ClusterAuthMaxSkew bounds the clock difference (and the replay window).
const ClusterAuthMaxSkew = 5 * time.Minute

const clusterAuthLabel = "yunpan-cluster-v1"

// ClusterAuthBody builds the request body for secret at time now.
func ClusterAuthBody(secret string, now time.Time) []byte {
	b := make([]byte, ClusterAuthSize)
	binary.BigEndian.PutUint64(b[0:8], uint64(now.Unix()))
	rand.Read(b[8:24])
	copy(b[24:], clusterMAC(secret, b[:24]))
	return b
}

func clusterMAC(secret string, msg []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(clusterAuthLabel))
	m.Write(msg)
	return m.Sum(nil)
}

// ClusterAuthVerifier checks auth bodies and remembers nonces seen within the
// skew window, so a captured body cannot be replayed. Its memory is bounded.
type ClusterAuthVerifier struct {
	Secret string
	mu     sync.Mutex
	seen   map[[16]byte]int64 // nonce → time it carried
}

// maxNonces bounds the replay cache; past it the oldest half is dropped
// (a flood of valid bodies needs the secret, so this is only a safety net).
const maxNonces = 1 << 16

// Verify returns nil when body is a fresh, valid proof of the secret.
func (v *ClusterAuthVerifier) Verify(body []byte, now time.Time) error {
	if len(body) != ClusterAuthSize {
		return Errf(StatusEINVAL, "cluster auth: body %d bytes", len(body))
	}
	ts := int64(binary.BigEndian.Uint64(body[0:8]))
	if d := now.Unix() - ts; d > int64(ClusterAuthMaxSkew/time.Second) || -d > int64(ClusterAuthMaxSkew/time.Second) {
		return Errf(StatusEACCES, "cluster auth: time %d is %ds away", ts, d)
	}
	if !hmac.Equal(body[24:], clusterMAC(v.Secret, body[:24])) {
		return Errf(StatusEACCES, "cluster auth: wrong secret")
	}
	var nonce [16]byte
	copy(nonce[:], body[8:24])
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[[16]byte]int64{}
	}
	if _, dup := v.seen[nonce]; dup {
		return Errf(StatusEACCES, "cluster auth: replayed")
	}
	if len(v.seen) >= maxNonces {
		cut := now.Unix() - int64(ClusterAuthMaxSkew/time.Second)
		for k, t := range v.seen {
			if t < cut || len(v.seen) >= maxNonces/2 {
				delete(v.seen, k)
			}
		}
	}
	v.seen[nonce] = ts
	return nil
}

// String is for logs.
func (v *ClusterAuthVerifier) String() string {
	return fmt.Sprintf("cluster auth (secret set: %v)", v.Secret != "")
}
