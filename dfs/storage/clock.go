package storage

import (
	"bytes"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The storage's wall clock, with a TEST-ONLY skew.
//
// wallNow is what this storage believes the time is: the create time in
// the names of its files, binlog record timestamps, the last_source_update
// and last_sync_update it reports, its join and start time, and the times
// it signs or checks (cluster auth, HTTP tokens). Deadlines, timeouts and
// intervals keep using time.Now (the monotonic clock), so a jumping wall
// clock never shortens or stretches a wait.
//
// Integration tests make one storage's clock jump without touching the
// machine's clock (Go reads time through the vDSO, so faketime cannot do
// it): with YUNPAN_TEST_CLOCK_SKEW_FILE naming a file that holds a Go
// duration ("2h", "-2h", "0s"), wallNow is time.Now plus that duration. The
// file is re-read at most once a second, when its size or mtime changed.
// Without the variable wallNow is a plain time.Now.
const clockSkewEnv = "YUNPAN_TEST_CLOCK_SKEW_FILE"

var testClock = newSkewClock(os.Getenv(clockSkewEnv))

// wallNow is this storage's wall clock (see above).
func wallNow() time.Time {
	if testClock == nil {
		return time.Now()
	}
	return time.Now().Add(testClock.skew())
}

// stampFile returns the create time of a file just written whose mtime is
// mt. The kernel stamps files with the machine's clock; under a test skew
// the file's mtime moves with the skewed clock, as it would on a machine
// whose clock is off, so its name, mtime and binlog record agree.
func stampFile(path string, mt time.Time) time.Time {
	if testClock == nil {
		return mt
	}
	d := testClock.skew()
	if d == 0 {
		return mt
	}
	t := mt.Add(d)
	if err := os.Chtimes(path, t, t); err != nil {
		return mt
	}
	return t
}

// skewClock holds the skew read from a file.
type skewClock struct {
	path    string
	d       atomic.Int64 // current skew
	checked atomic.Int64 // monotonic ns (since clockBase) of the last look at the file
	mu      sync.Mutex   // one reader of the file at a time
	mod     time.Time
	size    int64
}

var clockBase = time.Now()

func newSkewClock(path string) *skewClock {
	if path == "" {
		return nil
	}
	c := &skewClock{path: path}
	c.checked.Store(-int64(time.Hour))
	return c
}

// skew returns the skew, looking at the file when a second has passed.
func (c *skewClock) skew() time.Duration {
	now := int64(time.Since(clockBase))
	if last := c.checked.Load(); now-last >= int64(time.Second) && c.mu.TryLock() {
		c.checked.Store(now)
		c.reload()
		c.mu.Unlock()
	}
	return time.Duration(c.d.Load())
}

// reload reads the file if it changed; a missing or malformed file leaves
// the skew as it was.
func (c *skewClock) reload() {
	fi, err := os.Stat(c.path)
	if err != nil || (fi.ModTime().Equal(c.mod) && fi.Size() == c.size) {
		return
	}
	f, err := os.Open(c.path)
	if err != nil {
		return
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return
	}
	d, err := time.ParseDuration(string(bytes.TrimSpace(b)))
	if err != nil {
		return
	}
	c.mod, c.size = fi.ModTime(), fi.Size()
	c.d.Store(int64(d))
}
