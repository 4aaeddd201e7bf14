package client

import (
	"errors"
	"net"
	"syscall"
)

// peerClosed reports, without blocking, whether an idle pooled connection
// is unusable: the server closed it (FIN or reset, e.g. after its
// network_timeout, which may be shorter than connection_pool_max_idle_time)
// or sent bytes nobody asked for. A non-blocking MSG_PEEK costs one system
// call, far less than the ACTIVE_TEST round trip reserved for long-idle
// connections, so every reuse is checked.
func peerClosed(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EINTR):
			// nothing to read: still open
		default:
			closed = true // reset, FIN (n == 0), or stray bytes on an idle connection
		}
		return true // never wait for readiness
	})
	return closed || err != nil
}
