package proto

import (
	"encoding/binary"
	"fmt"
	"io"
)

// HeaderSize is the size of every packet header (docs/protocol.md §1.1).
const HeaderSize = 10

// Header is the 10-byte packet header: body length, command and status.
type Header struct {
	PkgLen int64
	Cmd    byte
	Status byte
}

// Encode writes h into b, which must be at least HeaderSize long.
func (h Header) Encode(b []byte) {
	binary.BigEndian.PutUint64(b[0:8], uint64(h.PkgLen))
	b[8] = h.Cmd
	b[9] = h.Status
}

// Bytes returns the encoded header.
func (h Header) Bytes() []byte {
	b := make([]byte, HeaderSize)
	h.Encode(b)
	return b
}

// DecodeHeader parses a header. A negative body length is a protocol error.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("header: %d bytes, need %d: %w", len(b), HeaderSize, StatusError(StatusEINVAL))
	}
	h := Header{PkgLen: int64(binary.BigEndian.Uint64(b[0:8])), Cmd: b[8], Status: b[9]}
	if h.PkgLen < 0 {
		return h, fmt.Errorf("header: negative body length %d: %w", h.PkgLen, StatusError(StatusEINVAL))
	}
	return h, nil
}

// ReadHeader reads and decodes one header.
func ReadHeader(r io.Reader) (Header, error) {
	var b [HeaderSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Header{}, err
	}
	return DecodeHeader(b[:])
}

// WriteHeader writes one header.
func WriteHeader(w io.Writer, h Header) error {
	var b [HeaderSize]byte
	h.Encode(b[:])
	_, err := w.Write(b[:])
	return err
}

// WritePacket writes a header for body (with cmd and status) followed by body
// in one write, so small packets travel in one TCP segment.
func WritePacket(w io.Writer, cmd, status byte, body []byte) error {
	_, err := w.Write(AppendPacket(make([]byte, 0, HeaderSize+len(body)), cmd, status, body))
	return err
}

// AppendPacket appends a packet (header with cmd and status, then body) to
// b, for a caller that reuses its buffer from packet to packet.
func AppendPacket(b []byte, cmd, status byte, body []byte) []byte {
	var h [HeaderSize]byte
	Header{PkgLen: int64(len(body)), Cmd: cmd, Status: status}.Encode(h[:])
	return append(append(b, h[:]...), body...)
}

// WriteResponse writes a response packet (cmd 100).
func WriteResponse(w io.Writer, status byte, body []byte) error {
	return WritePacket(w, CmdResp, status, body)
}

// ReadResponse reads a response header and, on status 0, its body. The body
// may be at most max bytes (an oversized answer is EINVAL without reading
// it). A non-zero status is returned as a StatusError and no body is read,
// as the reference client does.
func ReadResponse(r io.Reader, max int64) ([]byte, error) {
	h, err := ReadHeader(r)
	if err != nil {
		return nil, err
	}
	if h.Cmd != CmdResp {
		return nil, fmt.Errorf("response cmd %d, want %d: %w", h.Cmd, CmdResp, StatusError(StatusEINVAL))
	}
	if h.Status != 0 {
		return nil, StatusError(h.Status)
	}
	if h.PkgLen > max {
		return nil, fmt.Errorf("response body %d bytes, limit %d: %w", h.PkgLen, max, StatusError(StatusEINVAL))
	}
	body := make([]byte, h.PkgLen)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}
