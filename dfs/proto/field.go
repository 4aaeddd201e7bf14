package proto

import (
	"bytes"
	"encoding/binary"
)

// Field widths (docs/protocol.md §1.3).
const (
	GroupNameLen       = 16 // group name in request/response fields
	GroupNameStructLen = 17 // group name inside structs (16 + NUL)
	StorageIDLen       = 16
	IPv4Size           = 16 // IP field width, IPv4 variant
	IPv6Size           = 46 // IP field width, IPv6 variant
	VersionLen         = 8
	ExtLen             = 6
	PrefixLen          = 16
	MaxFilenameLen     = 128 // remote filenames must be shorter than this
	HostPortLen        = 52
	MaxMetaNameLen     = 64
	MaxMetaValueLen    = 256
)

// Version is what our servers report in version fields.
const Version = "6.16.1"

// PutFixed writes s into b, NUL-padded; text longer than b is cut.
func PutFixed(b []byte, s string) {
	n := copy(b, s)
	clear(b[n:])
}

// Fixed returns the text of a fixed-width field: the bytes up to the first NUL
// or the whole field. Bytes after the NUL may be garbage and are ignored.
func Fixed(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// FixedBytes is Fixed without the copy.
func FixedBytes(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// PutI64 and friends are short names for the big-endian integers used on the wire.
func PutI64(b []byte, v int64) { binary.BigEndian.PutUint64(b, uint64(v)) }
func PutI32(b []byte, v int32) { binary.BigEndian.PutUint32(b, uint32(v)) }
func I64(b []byte) int64       { return int64(binary.BigEndian.Uint64(b)) }
func I32(b []byte) int32       { return int32(binary.BigEndian.Uint32(b)) }

// Buf builds a body field by field.
type Buf struct{ B []byte }

func (w *Buf) I64(v int64) *Buf {
	w.B = binary.BigEndian.AppendUint64(w.B, uint64(v))
	return w
}

func (w *Buf) I32(v int32) *Buf {
	w.B = binary.BigEndian.AppendUint32(w.B, uint32(v))
	return w
}

func (w *Buf) U8(v byte) *Buf {
	w.B = append(w.B, v)
	return w
}

// Fixed appends s as an n-byte NUL-padded field.
func (w *Buf) Fixed(s string, n int) *Buf {
	start := len(w.B)
	w.B = append(w.B, make([]byte, n)...)
	copy(w.B[start:], s)
	return w
}

func (w *Buf) Bytes(b []byte) *Buf {
	w.B = append(w.B, b...)
	return w
}

func (w *Buf) String(s string) *Buf {
	w.B = append(w.B, s...)
	return w
}

// Reader takes fields off a body in order. Reading past the end yields zero
// values and sets Short, so callers check once at the end.
type Reader struct {
	B     []byte
	Short bool
}

func (r *Reader) take(n int) []byte {
	if n > len(r.B) {
		r.Short = true
		r.B = nil
		return make([]byte, n)
	}
	b := r.B[:n]
	r.B = r.B[n:]
	return b
}

func (r *Reader) I64() int64         { return I64(r.take(8)) }
func (r *Reader) I32() int32         { return I32(r.take(4)) }
func (r *Reader) U8() byte           { return r.take(1)[0] }
func (r *Reader) Fixed(n int) string { return Fixed(r.take(n)) }
func (r *Reader) Raw(n int) []byte   { return r.take(n) }
func (r *Reader) Rest() []byte       { b := r.B; r.B = nil; return b }
func (r *Reader) Len() int           { return len(r.B) }
