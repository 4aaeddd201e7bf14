// Package thumbtest makes test images in memory: JPEGs with an EXIF
// orientation written by hand, PNGs with transparency, GIFs, and hostile
// files (a PNG header claiming a huge canvas, truncated files).
package thumbtest

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
)

// Marker is the colour of the top-left quarter of the images made here
// (the rest is Fill), so that a test can see which way up a thumbnail is.
var (
	Marker = color.RGBA{R: 255, A: 255}
	Fill   = color.RGBA{B: 255, A: 255}
)

// Picture is a w×h opaque image whose top-left quarter is Marker.
func Picture(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := Fill
			if x < w/2 && y < h/2 {
				c = Marker
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

// JPEG encodes Picture(w, h) with an EXIF APP1 segment holding
// orientation o (none when o is 0).
func JPEG(w, h, o int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, Picture(w, h), &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	b := buf.Bytes()
	if o == 0 {
		return b
	}
	return append(append(append([]byte{}, b[:2]...), exifAPP1(o)...), b[2:]...)
}

// exifAPP1 is an APP1 segment: "Exif\0\0", a big-endian TIFF header and an
// IFD0 with one entry, Orientation (0x0112, SHORT, 1) = o.
func exifAPP1(o int) []byte {
	var t bytes.Buffer
	t.WriteString("MM\x00\x2a")
	binary.Write(&t, binary.BigEndian, uint32(8))      // IFD0 offset
	binary.Write(&t, binary.BigEndian, uint16(1))      // entries
	binary.Write(&t, binary.BigEndian, uint16(0x0112)) // tag
	binary.Write(&t, binary.BigEndian, uint16(3))      // SHORT
	binary.Write(&t, binary.BigEndian, uint32(1))      // count
	binary.Write(&t, binary.BigEndian, uint16(o))      // value, left-justified
	binary.Write(&t, binary.BigEndian, uint16(0))      // padding
	binary.Write(&t, binary.BigEndian, uint32(0))      // next IFD
	seg := append([]byte("Exif\x00\x00"), t.Bytes()...)
	out := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(out[2:], uint16(len(seg)+2))
	return append(out, seg...)
}

// PNGAlpha is a w×h PNG whose right half is fully transparent.
func PNGAlpha(w, h int) []byte {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if x < w/2 {
				m.SetNRGBA(x, y, color.NRGBA{G: 200, A: 255})
			}
		}
	}
	return encodePNG(m)
}

// PNG is Picture(w, h) as an opaque PNG.
func PNG(w, h int) []byte { return encodePNG(Picture(w, h)) }

func encodePNG(m image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// GIF is Picture(w, h) as a one-frame GIF (a two-colour palette).
func GIF(w, h int) []byte {
	m := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{Fill, Marker})
	for y := 0; y < h/2; y++ {
		for x := 0; x < w/2; x++ {
			m.SetColorIndex(x, y, 1)
		}
	}
	var buf bytes.Buffer
	if err := gif.Encode(&buf, m, nil); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Bomb is a small, otherwise valid PNG whose header claims w×h pixels.
func Bomb(w, h uint32) []byte {
	b := PNG(8, 8)
	// IHDR: signature (8), length (4), "IHDR" (4), width, height ...; CRC
	// over type and data (17 bytes) after the 13 data bytes.
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// webp is golang.org/x/image's testdata/blue-purple-pink.lossy.webp (BSD
// licence): the standard library cannot encode WebP.
//
//go:embed small.webp
var webp []byte

// WebP is a small lossy WebP image.
func WebP() []byte { return append([]byte{}, webp...) }

// Truncated is b cut to its first half.
func Truncated(b []byte) []byte { return append([]byte{}, b[:len(b)/2]...) }
