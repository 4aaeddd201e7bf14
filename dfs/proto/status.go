package proto

import (
	"errors"
	"fmt"
	"syscall"
)

// Status codes are Linux errno values (docs/protocol.md §1.4).
const (
	StatusOK           byte = 0
	StatusEPERM        byte = 1
	StatusENOENT       byte = 2
	StatusEIO          byte = 5
	StatusEAGAIN       byte = 11
	StatusENOMEM       byte = 12
	StatusEACCES       byte = 13
	StatusEFAULT       byte = 14
	StatusEBUSY        byte = 16
	StatusEEXIST       byte = 17
	StatusEISDIR       byte = 21
	StatusEINVAL       byte = 22
	StatusENOSPC       byte = 28
	StatusENAMETOOLONG byte = 36
	StatusENONET       byte = 64
	StatusEOPNOTSUPP   byte = 95
	StatusETIMEDOUT    byte = 110
	StatusEALREADY     byte = 114
)

// StatusError is a non-zero status byte received from, or to be sent to, a
// peer. Its text is the strerror text the FastDFS tools print.
type StatusError byte

func (e StatusError) Error() string { return StrError(byte(e)) }

// StrError is the C library's strerror text for an errno ("No such file or
// directory"), which the FastDFS tools print. Go's table is glibc's with the
// first letter lowered, so raising it back gives the same bytes.
func StrError(errno byte) string {
	s := syscall.Errno(errno).Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// Errno returns the status as a syscall.Errno so errors.Is works against
// syscall.ENOENT and friends.
func (e StatusError) Errno() syscall.Errno { return syscall.Errno(e) }

// Is lets errors.Is(err, syscall.ENOENT) match a StatusError(2).
func (e StatusError) Is(target error) bool {
	if t, ok := target.(syscall.Errno); ok {
		return syscall.Errno(e) == t
	}
	return false
}

// Errf wraps a status with context while keeping it recoverable by StatusOf.
func Errf(status byte, format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), StatusError(status))
}

// StatusOf maps an error to the status byte a server should answer with and a
// CLI tool should print: a wrapped StatusError or syscall.Errno keeps its value,
// anything else is EIO. nil is 0.
func StatusOf(err error) byte {
	if err == nil {
		return 0
	}
	var se StatusError
	if errors.As(err, &se) {
		return byte(se)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && errno > 0 && errno < 256 {
		return byte(errno)
	}
	return StatusEIO
}
