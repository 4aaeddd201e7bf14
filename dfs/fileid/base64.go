package fileid

import (
	"hash/crc32"
)

// alphabet is the FastDFS base64 alphabet (docs/protocol.md §6.3): the RFC 4648 URL-safe
// one, with '.' instead of '=' as the pad character.
const (
	alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	padChar  = '.'
)

// decodeMap maps a byte to its 6-bit value, or 0xFF when it is not in the alphabet.
var decodeMap = func() (m [256]byte) {
	for i := range m {
		m[i] = 0xFF
	}
	for i := 0; i < len(alphabet); i++ {
		m[alphabet[i]] = byte(i)
	}
	return m
}()

// Base64Encode encodes b with the FastDFS alphabet. Without pad the result is
// the same as base64.RawURLEncoding (file names); with pad it is filled to a
// multiple of 4 with '.' (the IPv6 short code, §4.3.1).
func Base64Encode(b []byte, pad bool) string {
	n := (len(b)*8 + 5) / 6
	size := n
	if pad {
		size = (len(b) + 2) / 3 * 4
	}
	out := make([]byte, 0, size)
	for i := 0; i+3 <= len(b); i += 3 {
		v := uint(b[i])<<16 | uint(b[i+1])<<8 | uint(b[i+2])
		out = append(out, alphabet[v>>18&0x3F], alphabet[v>>12&0x3F], alphabet[v>>6&0x3F], alphabet[v&0x3F])
	}
	switch rest := b[len(b)/3*3:]; len(rest) {
	case 1:
		v := uint(rest[0]) << 16
		out = append(out, alphabet[v>>18&0x3F], alphabet[v>>12&0x3F])
	case 2:
		v := uint(rest[0])<<16 | uint(rest[1])<<8
		out = append(out, alphabet[v>>18&0x3F], alphabet[v>>12&0x3F], alphabet[v>>6&0x3F])
	}
	for len(out) < size {
		out = append(out, padChar)
	}
	return string(out)
}

// Base64Decode decodes s the way FastDFS readers do: characters outside the
// alphabet (the '.' pad included) are skipped, and the remaining 6-bit groups
// are packed into bytes; a trailing partial byte is dropped. For well-formed
// input, padded or not, this is plain base64 decoding. It never fails.
func Base64Decode(s string) []byte {
	return AppendBase64Decode(make([]byte, 0, len(s)*6/8), s)
}

// AppendBase64Decode is Base64Decode appending to dst (a caller's buffer on
// its stack spares the allocation on the trackers' and storages' hot paths).
func AppendBase64Decode(dst []byte, s string) []byte {
	out := dst
	var acc uint32
	bits := 0
	for i := 0; i < len(s); i++ {
		v := decodeMap[s[i]]
		if v == 0xFF {
			continue
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
			acc &= 1<<bits - 1
		}
	}
	return out
}

// IPv6ShortCode is the 12-character storage ID a storage without storage IDs
// uses for an IPv6 address (docs/protocol.md §4.3.1): the CRC-32 register over the text
// (initial 0xFFFFFFFF, no final XOR) as a little-endian uint64, base64 with pad.
func IPv6ShortCode(addr string) string {
	reg := ^crc32.ChecksumIEEE([]byte(addr)) // ChecksumIEEE applies the final XOR; undo it
	var b [8]byte
	b[0], b[1], b[2], b[3] = byte(reg), byte(reg>>8), byte(reg>>16), byte(reg>>24)
	return Base64Encode(b[:], true)
}
