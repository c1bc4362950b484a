//go:build linux

package proxy

import (
	"context"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestListenKeepAliveIsInherited checks that accepted connections carry the keepalive options
// set on the listening socket (Listen relies on the kernel copying them).
func TestListenKeepAliveIsInherited(t *testing.T) {
	ln, err := Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) {
		for _, o := range []struct {
			name       string
			level, opt int
			want       int
		}{
			{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
			{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(KeepAlive.Idle.Seconds())},
			{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(KeepAlive.Interval.Seconds())},
			{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, KeepAlive.Count},
		} {
			got, err := unix.GetsockoptInt(int(fd), o.level, o.opt)
			if err != nil || got != o.want {
				t.Errorf("accepted socket %s = %d, %v; want %d", o.name, got, err, o.want)
			}
		}
	})
}
