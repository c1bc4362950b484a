//go:build linux

package proxy

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// keepAliveInherited reports whether accepted sockets carry KeepAlive from the listener: on
// Linux they do (TestListenKeepAliveIsInherited).
const keepAliveInherited = true

// setKeepAlive sets KeepAlive on a socket before it listens; accepted sockets inherit it.
func setKeepAlive(network, address string, c syscall.RawConn) error {
	var err error
	cerr := c.Control(func(fd uintptr) {
		for _, o := range [][3]int{
			{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
			{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(KeepAlive.Idle.Seconds())},
			{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(KeepAlive.Interval.Seconds())},
			{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, KeepAlive.Count},
		} {
			if err = unix.SetsockoptInt(int(fd), o[0], o[1], o[2]); err != nil {
				return
			}
		}
	})
	if cerr != nil {
		return cerr
	}
	return err
}
