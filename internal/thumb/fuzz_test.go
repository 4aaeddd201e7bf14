package thumb_test

import (
	"errors"
	"testing"

	"yunpan/internal/thumb"
	"yunpan/internal/thumb/thumbtest"
)

// FuzzMake: whatever the bytes, Make returns thumbnails or one of its
// errors, within the limits (small here, so that the fuzzer stays fast).
func FuzzMake(f *testing.F) {
	f.Add(thumbtest.JPEG(16, 8, 6))
	f.Add(thumbtest.PNGAlpha(9, 7))
	f.Add(thumbtest.GIF(8, 8))
	f.Add(thumbtest.Bomb(100000, 100000))
	f.Add(thumbtest.WebP())
	lim := thumb.Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 20, MaxSide: 4096}
	f.Fuzz(func(t *testing.T, b []byte) {
		ths, err := thumb.Make(b, lim)
		if err != nil {
			if !errors.Is(err, thumb.ErrNotImage) && !errors.Is(err, thumb.ErrTooLarge) && !errors.Is(err, thumb.ErrCorrupt) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		for _, th := range ths {
			if th.W <= 0 || th.H <= 0 || th.W > 800 || len(th.Data) == 0 {
				t.Fatalf("bad thumbnail %s %dx%d %d bytes", th.Spec.Name, th.W, th.H, len(th.Data))
			}
		}
	})
}
