//go:build !linux

package proxy

import "syscall"

// setKeepAlive is Linux only: elsewhere accepted sockets are not known to inherit the
// listener's options, so tunnel.keepAlive sets them on the client's leg too.
func setKeepAlive(network, address string, c syscall.RawConn) error { return nil }

// keepAliveInherited reports whether accepted sockets carry KeepAlive from the listener.
const keepAliveInherited = false
