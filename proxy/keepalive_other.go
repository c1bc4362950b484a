//go:build !linux

package proxy

import "syscall"

// setKeepAlive is Linux only; elsewhere accepted connections keep Go's default keepalive.
func setKeepAlive(network, address string, c syscall.RawConn) error { return nil }
