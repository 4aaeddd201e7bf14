package thumb_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/internal/thumb"
	"yunpan/internal/thumb/thumbtest"
)

func decodeThumb(t *testing.T, th thumb.Thumb) image.Image {
	t.Helper()
	var m image.Image
	var err error
	if th.Ext == "png" {
		m, err = png.Decode(bytes.NewReader(th.Data))
	} else {
		m, err = jpeg.Decode(bytes.NewReader(th.Data))
	}
	require.NoError(t, err)
	require.Equal(t, th.W, m.Bounds().Dx())
	require.Equal(t, th.H, m.Bounds().Dy())
	return m
}

// near reports whether c is close to want (JPEG is lossy).
func near(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, b uint8) bool { x := int(a>>8) - int(b); return x > -60 && x < 60 }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

func TestDetect(t *testing.T) {
	webp := thumbtest.WebP()
	for _, c := range []struct {
		data []byte
		want thumb.Format
	}{
		{thumbtest.JPEG(8, 8, 0), thumb.JPEG}, {thumbtest.PNG(8, 8), thumb.PNG},
		{thumbtest.GIF(8, 8), thumb.GIF}, {webp, thumb.WebP},
	} {
		f, ok := thumb.Detect(c.data)
		require.True(t, ok)
		require.Equal(t, c.want, f)
	}
	for _, b := range [][]byte{nil, []byte("hello"), []byte("<svg xmlns="), []byte("RIFF\x00\x00\x00\x00WAVE")} {
		_, ok := thumb.Detect(b)
		require.False(t, ok, "%q", b)
	}
}

// TestOrientation: every EXIF orientation comes out upright: the marker
// quarter, stored top-left, lands where the orientation says.
func TestOrientation(t *testing.T) {
	// Stored 400x200; where the stored top-left corner is shown.
	corner := map[int][2]bool{ // {right, bottom}
		1: {false, false}, 2: {true, false}, 3: {true, true}, 4: {false, true},
		5: {false, false}, 6: {true, false}, 7: {true, true}, 8: {false, true},
	}
	for o := 1; o <= 8; o++ {
		ths, err := thumb.Make(thumbtest.JPEG(400, 200, o), thumb.DefaultLimits)
		require.NoError(t, err)
		require.Len(t, ths, 2)
		big := ths[1]
		require.Equal(t, "800", big.Spec.Name)
		require.Equal(t, "jpg", big.Ext)
		w, h := 400, 200
		if o >= 5 {
			w, h = 200, 400
		}
		require.Equal(t, [2]int{w, h}, [2]int{big.W, big.H}, "orientation %d: never upscaled, turned", o)
		m := decodeThumb(t, big)
		x, y := w/8, h/8
		if corner[o][0] {
			x = w - 1 - w/8
		}
		if corner[o][1] {
			y = h - 1 - h/8
		}
		require.True(t, near(m.At(x, y), thumbtest.Marker), "orientation %d: marker at (%d,%d), got %v", o, x, y, m.At(x, y))
		require.True(t, near(m.At(w-1-x, h-1-y), thumbtest.Fill), "orientation %d", o)
		sq := decodeThumb(t, ths[0])
		require.Equal(t, [2]int{150, 150}, [2]int{ths[0].W, ths[0].H})
		_ = sq
	}
}

func TestSizes(t *testing.T) {
	ths, err := thumb.Make(thumbtest.JPEG(960, 600, 0), thumb.DefaultLimits)
	require.NoError(t, err)
	require.Equal(t, [2]int{150, 150}, [2]int{ths[0].W, ths[0].H})
	require.Equal(t, [2]int{800, 500}, [2]int{ths[1].W, ths[1].H})

	ths, err = thumb.Make(thumbtest.PNGAlpha(300, 100), thumb.DefaultLimits)
	require.NoError(t, err)
	for _, th := range ths {
		require.Equal(t, "png", th.Ext, "transparency keeps PNG")
	}
	require.Equal(t, [2]int{100, 100}, [2]int{ths[0].W, ths[0].H}, "a square no larger than the source")
	require.Equal(t, [2]int{300, 100}, [2]int{ths[1].W, ths[1].H})
	m := decodeThumb(t, ths[1])
	_, _, _, a := m.At(290, 50).RGBA()
	require.Zero(t, a, "transparent stays transparent")

	ths, err = thumb.Make(thumbtest.GIF(880, 440), thumb.DefaultLimits)
	require.NoError(t, err)
	require.Equal(t, "jpg", ths[0].Ext)
	require.Equal(t, [2]int{800, 400}, [2]int{ths[1].W, ths[1].H})

	webp := thumbtest.WebP()
	ths, err = thumb.Make(webp, thumb.DefaultLimits)
	require.NoError(t, err)
	require.Len(t, ths, 2)
}

func TestRefused(t *testing.T) {
	_, err := thumb.Make(thumbtest.Bomb(100000, 100000), thumb.DefaultLimits)
	require.ErrorIs(t, err, thumb.ErrTooLarge)
	_, err = thumb.Make(thumbtest.Bomb(20001, 10), thumb.DefaultLimits)
	require.ErrorIs(t, err, thumb.ErrTooLarge)
	_, err = thumb.Make(thumbtest.Bomb(0, 10), thumb.DefaultLimits)
	require.ErrorIs(t, err, thumb.ErrCorrupt)
	for _, b := range [][]byte{thumbtest.JPEG(300, 200, 6), thumbtest.PNG(300, 200), thumbtest.GIF(300, 200)} {
		_, err = thumb.Make(thumbtest.Truncated(b), thumb.DefaultLimits)
		require.ErrorIs(t, err, thumb.ErrCorrupt)
	}
	_, err = thumb.Make([]byte("plain text"), thumb.DefaultLimits)
	require.ErrorIs(t, err, thumb.ErrNotImage)
	small := thumb.DefaultLimits
	small.MaxBytes = 100
	_, err = thumb.Make(thumbtest.PNG(300, 200), small)
	require.ErrorIs(t, err, thumb.ErrTooLarge)
}
