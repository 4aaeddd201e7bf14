package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Proof of possession for the instant upload (/md5). Naming an md5 does not
// prove holding the bytes: the server hands out a challenge (a nonce and
// byte ranges of the claimed content, picked from the size the client
// claims) and links the content only when the client answers with
// md5(nonce || the bytes of those ranges), which the app checks against
// the stored file. Challenges are issued whether or not the content is
// known, so they say nothing about other users' files; each is used once.

const (
	// ChallengeTTL is how long a challenge can be answered.
	ChallengeTTL = 2 * time.Minute
	// ChallengeRanges ranges of up to ChallengeRangeLen bytes each; content
	// no longer than their sum is asked for whole.
	ChallengeRanges   = 8
	ChallengeRangeLen = 4096
	// maxChallenges bounds the live challenges of one user.
	maxChallenges = 32
)

// Range is a byte range [Off, Off+Len) of the content.
type Range struct{ Off, Len int64 }

// Challenge is what the client must answer.
type Challenge struct {
	Nonce  string // 32 hex digits
	Ranges []Range
}

// Challenged is a challenge taken back for checking.
type Challenged struct {
	MD5    string
	Size   int64
	Nonce  string
	Ranges []Range
}

// pickRanges chooses the ranges for content of size bytes.
func pickRanges(size int64) ([]Range, error) {
	if size <= ChallengeRanges*ChallengeRangeLen {
		return []Range{{0, size}}, nil
	}
	out := make([]Range, ChallengeRanges)
	for i := range out {
		n, err := rand.Int(rand.Reader, big.NewInt(size-ChallengeRangeLen+1))
		if err != nil {
			return nil, err
		}
		out[i] = Range{n.Int64(), ChallengeRangeLen}
	}
	return out, nil
}

func formatRanges(rs []Range) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = strconv.FormatInt(r.Off, 10) + ":" + strconv.FormatInt(r.Len, 10)
	}
	return strings.Join(parts, ",")
}

func parseRanges(s string) ([]Range, error) {
	var out []Range
	for _, p := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(p, ":")
		off, err1 := strconv.ParseInt(a, 10, 64)
		n, err2 := strconv.ParseInt(b, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad ranges %q", s)
		}
		out = append(out, Range{off, n})
	}
	return out, nil
}

// NewChallenge issues a challenge to user for content md5 of the claimed
// size. It does not look at whether the content exists.
func (s *Store) NewChallenge(ctx context.Context, user, md5 string, size int64) (Challenge, error) {
	if user == "" || !ValidMD5(md5) || size < 0 {
		return Challenge{}, fmt.Errorf("%w: user, md5 and a size >= 0 required", ErrInvalid)
	}
	rs, err := pickRanges(size)
	if err != nil {
		return Challenge{}, fmt.Errorf("challenge: %w", err)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Challenge{}, fmt.Errorf("challenge: %w", err)
	}
	c := Challenge{Nonce: hex.EncodeToString(raw[:]), Ranges: rs}
	now := time.Now().Unix()
	err = s.tx(ctx, "challenge", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM md5_challenge WHERE user = ? AND expire_time < ?", user, now); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM md5_challenge WHERE user = ?", user).Scan(&n); err != nil {
			return err
		}
		if n >= maxChallenges {
			if _, err := tx.ExecContext(ctx, "DELETE FROM md5_challenge WHERE user = ? ORDER BY expire_time LIMIT ?", user, n-maxChallenges+1); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO md5_challenge (nonce_hash, user, md5, size, ranges, expire_time) VALUES (?, ?, ?, ?, ?, ?)",
			hashToken(c.Nonce), user, md5, size, formatRanges(rs), now+int64(ChallengeTTL/time.Second))
		return err
	})
	return c, err
}

// TakeChallenge removes user's challenge nonce and returns it; ErrNotFound
// when there is none (never issued, used, or expired).
func (s *Store) TakeChallenge(ctx context.Context, user, nonce string) (Challenged, error) {
	if nonce == "" || len(nonce) > 64 {
		return Challenged{}, ErrNotFound
	}
	var c Challenged
	var ranges string
	var exp int64
	err := s.tx(ctx, "take challenge", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT md5, size, ranges, expire_time FROM md5_challenge WHERE nonce_hash = ? AND user = ? FOR UPDATE",
			hashToken(nonce), user).Scan(&c.MD5, &c.Size, &ranges, &exp)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM md5_challenge WHERE nonce_hash = ?", hashToken(nonce))
		return err
	})
	if err != nil {
		return Challenged{}, err
	}
	if exp < time.Now().Unix() {
		return Challenged{}, ErrNotFound
	}
	c.Nonce = nonce
	c.Ranges, err = parseRanges(ranges)
	return c, err
}

// UserHasMD5 reports whether user has content md5 under any name.
func (s *Store) UserHasMD5(ctx context.Context, user, md5 string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, "SELECT 1 FROM user_file_list WHERE user = ? AND md5 = ? LIMIT 1", user, md5).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, wrapDB("user has md5", err)
}

// ContentByMD5 returns the DFS file ID and size of content md5, if known.
func (s *Store) ContentByMD5(ctx context.Context, md5 string) (fileID string, size int64, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, "SELECT file_id, size FROM file_info WHERE md5 = ?", md5).Scan(&fileID, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, wrapDB("content by md5", err)
	}
	return fileID, size, true, nil
}
