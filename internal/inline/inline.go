// Package inline is the list of file types the cloud disk lets a browser
// show in place: types that cannot run script (raster images, audio,
// video, PDF, plain text). Everything else, HTML and SVG included, is sent
// as an attachment of type application/octet-stream, so that user content
// never runs as the app. The Nginx configs (yunpan/nginx) and GET
// /download use this one table.
package inline

import (
	"slices"
	"strings"
)

// types maps a lower-case file extension to its media type.
var types = map[string]string{
	"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
	"webp": "image/webp", "bmp": "image/bmp", "avif": "image/avif", "ico": "image/x-icon",
	"mp3": "audio/mpeg", "m4a": "audio/mp4", "aac": "audio/aac", "wav": "audio/wav",
	"flac": "audio/flac", "ogg": "audio/ogg", "oga": "audio/ogg", "opus": "audio/ogg",
	"mp4": "video/mp4", "m4v": "video/mp4", "webm": "video/webm", "ogv": "video/ogg",
	"pdf": "application/pdf", "txt": "text/plain",
}

// Fallback is the type of every file not in the list.
const Fallback = "application/octet-stream"

// Type is the media type for a file extension (with or without the dot,
// any case) and whether the browser may show it inline.
func Type(ext string) (string, bool) {
	t, ok := types[strings.ToLower(strings.TrimPrefix(ext, "."))]
	if !ok {
		return Fallback, false
	}
	return t, true
}

// Ext is one entry of the list.
type Ext struct{ Ext, Type string }

// List is the whole list, sorted by extension (for config templates).
func List() []Ext {
	out := make([]Ext, 0, len(types))
	for e, t := range types {
		out = append(out, Ext{e, t})
	}
	slices.SortFunc(out, func(a, b Ext) int { return strings.Compare(a.Ext, b.Ext) })
	return out
}

// Pattern is an alternation of the extensions for a regular expression:
// "aac|avif|…".
func Pattern() string {
	var b strings.Builder
	for i, e := range List() {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(e.Ext)
	}
	return b.String()
}
