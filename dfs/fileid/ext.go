package fileid

import (
	"math/rand/v2"
	"strings"
)

// FormatExt builds the 7-character extension part (§6.4): 7 random digits when
// ext is empty, else (6 − len) random digits, '.', ext. ext is cut to 6 bytes.
// rnd nil means math/rand/v2.
func FormatExt(ext string, rnd func() uint32) string {
	if rnd == nil {
		rnd = rand.Uint32
	}
	ext = strings.TrimPrefix(ext, ".")
	if len(ext) > MaxExtLen {
		ext = ext[:MaxExtLen]
	}
	n := ExtPartLen
	if ext != "" {
		n = MaxExtLen - len(ext)
	}
	b := make([]byte, 0, ExtPartLen)
	for range n {
		b = append(b, byte('0'+rnd()%10))
	}
	if ext != "" {
		b = append(b, '.')
		b = append(b, ext...)
	}
	return string(b)
}

// ExtFromFilename detects the extension of a local filename (client side,
// §6.4): the text after the last '.', none if longer than 6 or containing '/';
// a two-part extension ("a.tar.gz" → "tar.gz") when the previous '.' lies
// within the 6-character budget and the combined text has no '/'. A dot at
// the very start of the name (a hidden file) does not start an extension
// part of a two-part extension.
func ExtFromFilename(local string) string {
	p := strings.LastIndexByte(local, '.')
	if p < 0 {
		return ""
	}
	ext := local[p+1:]
	if len(ext) > MaxExtLen || strings.IndexByte(ext, '/') >= 0 {
		return ""
	}
	// the earliest index a second dot may have so the result stays ≤ 6 chars
	minQ := len(local) - MaxExtLen - 1
	for q := p - 1; q > 0 && q >= minQ; q-- {
		if local[q] == '.' {
			if two := local[q+1:]; strings.IndexByte(two, '/') < 0 {
				return two
			}
			break
		}
	}
	return ext
}
