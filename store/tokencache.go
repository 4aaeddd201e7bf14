package store

import (
	"sync"
	"time"
)

// MaxTokenCacheAge bounds Options.TokenCacheAge: a token revoked by another
// process (logout runs in the login program) must stop working within a
// second, and an entry is trusted for at most its age.
const MaxTokenCacheAge = 500 * time.Millisecond

// maxTokenCacheEntries bounds the cache's memory; past it, new tokens are
// checked every time until old entries expire.
const maxTokenCacheEntries = 8192

// tokenCache remembers, for a short while, tokens Redis or MySQL accepted,
// so that a burst of requests with one token (a client uploading many
// files) costs one Redis round trip per age instead of one per request.
// Only acceptances are cached; a logout in this process drops its entry at
// once, one elsewhere takes effect when the entry ages out.
type tokenCache struct {
	age time.Duration // 0: off
	mu  sync.Mutex
	m   map[string]tokenEntry // by token hash
}

type tokenEntry struct {
	owner string
	until time.Time
}

func newTokenCache(age time.Duration) *tokenCache {
	return &tokenCache{age: min(age, MaxTokenCacheAge), m: map[string]tokenEntry{}}
}

// get returns the owner of a token accepted less than age ago.
func (c *tokenCache) get(th string, now time.Time) (string, bool) {
	if c.age <= 0 {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[th]
	if !ok || !now.Before(e.until) {
		return "", false
	}
	return e.owner, true
}

// put remembers an accepted token, checked at the time checked (taken
// before the check began, so that the entry's age covers the check too).
// tokenExp is the token's own expiry, when known.
func (c *tokenCache) put(th, owner string, checked, tokenExp time.Time) {
	if c.age <= 0 {
		return
	}
	until := checked.Add(c.age)
	if !tokenExp.IsZero() && tokenExp.Before(until) {
		until = tokenExp
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxTokenCacheEntries {
		now := time.Now()
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxTokenCacheEntries {
			return
		}
	}
	c.m[th] = tokenEntry{owner, until}
}

// drop forgets a token (logged out here).
func (c *tokenCache) drop(th string) {
	if c.age <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, th)
}
