package app

import "io"

// countReader counts what an upload streamed to the storage read from the
// request body and keeps the body's first read error, so that a failed
// upload tells a body that ended before its claimed size (the client's
// fault: 400) from a storage failure (503), whatever error the DFS client
// wraps it in (an empty body once looked like a storage failure:
// FuzzHandlers).
type countReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// short returns why the body gave fewer than want bytes, or nil when it
// did not (the failure was elsewhere).
func (c *countReader) short(want int64) error {
	if c.n >= want || c.err == nil {
		return nil
	}
	if c.err == io.EOF {
		return badRequest("the body ends after %d of %d bytes", c.n, want)
	}
	return c.err
}
