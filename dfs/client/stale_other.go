//go:build !linux

package client

import "net"

// peerClosed cannot peek without blocking here; long-idle connections are
// still probed with ACTIVE_TEST (pool.get).
func peerClosed(net.Conn) bool { return false }
