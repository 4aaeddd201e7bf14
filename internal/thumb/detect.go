// Package thumb makes the image host's thumbnails: it recognises JPEG,
// PNG, GIF and WebP by their bytes, decodes them within hard bounds
// (checked on the header before any pixel is decoded), turns JPEGs upright
// by their EXIF orientation and scales them to the sizes in Specs.
package thumb

import (
	"bytes"
	"errors"
)

// Format is an image format recognised by Detect.
type Format string

const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	GIF  Format = "gif"
	WebP Format = "webp"
)

// SniffLen is how many leading bytes Detect needs.
const SniffLen = 16

// Errors of Decode and Make. Every refusal wraps one of them.
var (
	ErrNotImage = errors.New("not a JPEG, PNG, GIF or WebP image")
	ErrTooLarge = errors.New("image too large")
	ErrCorrupt  = errors.New("image unreadable")
)

// Detect names the format of an image from its first bytes (at least
// SniffLen of them for WebP; fewer say no). The file name plays no part.
func Detect(head []byte) (Format, bool) {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG, true
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return PNG, true
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return GIF, true
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return WebP, true
	}
	return "", false
}
