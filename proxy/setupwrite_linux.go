package proxy

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// tryWrite writes what c's socket takes of b without waiting, and returns how much that was: 0
// on any error, which the waiting write that follows reports with its context, and for a
// connection that is not a socket.
func tryWrite(c net.Conn, b []byte) int {
	sc, ok := c.(syscall.Conn)
	if !ok || len(b) == 0 {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, err := unix.Write(int(fd), b[n:])
			if err == unix.EINTR {
				continue
			}
			if err != nil || m <= 0 {
				break
			}
			n += m
		}
		return true // never wait here
	})
	return n
}
