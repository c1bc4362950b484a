package proxy

import (
	"net"
	"sync"
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
	w := fdWriters.Get().(*fdWriter)
	w.b, w.n = b, 0
	rc.Write(w.fn)
	n := w.n
	w.b = nil
	fdWriters.Put(w)
	return n
}

// fdWriter is tryWrite's RawConn callback with its state. A closure would be two allocations on
// every call (itself and the count it updates); these are recycled with the callback bound.
type fdWriter struct {
	b  []byte
	n  int
	fn func(fd uintptr) bool // write, bound once
}

var fdWriters = sync.Pool{New: func() any {
	w := new(fdWriter)
	w.fn = w.write
	return w
}}

// write writes as much of b as the socket takes now.
func (w *fdWriter) write(fd uintptr) bool {
	for w.n < len(w.b) {
		m, err := unix.Write(int(fd), w.b[w.n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || m <= 0 {
			break
		}
		w.n += m
	}
	return true // never wait here
}
