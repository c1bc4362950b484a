//go:build linux

package proxy

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"golang.org/x/sys/unix"
)

// keepAliveOptions reads a socket's keepalive options: SO_KEEPALIVE, TCP_KEEPIDLE,
// TCP_KEEPINTVL and TCP_KEEPCNT.
func keepAliveOptions(t *testing.T, c net.Conn) [4]int {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got [4]int
	raw.Control(func(fd uintptr) {
		for i, o := range [][2]int{
			{unix.SOL_SOCKET, unix.SO_KEEPALIVE},
			{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
			{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
			{unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
		} {
			if got[i], err = unix.GetsockoptInt(int(fd), o[0], o[1]); err != nil {
				t.Error(err)
			}
		}
	})
	return got
}

var wantKeepAlive = [4]int{1, int(KeepAlive.Idle.Seconds()), int(KeepAlive.Interval.Seconds()), KeepAlive.Count}

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
	if got := keepAliveOptions(t, c); got != wantKeepAlive {
		t.Errorf("accepted socket: keepalive options %v, want %v", got, wantKeepAlive)
	}
}

// TestOriginKeepAliveWhenQuiet: the origin's leg gets KeepAlive when the tunnel first parks,
// and a tunnel that has not gone quiet has none yet.
func TestOriginKeepAliveWhenQuiet(t *testing.T) {
	for _, tt := range []struct {
		name      string
		parkAfter time.Duration
		want      [4]int
	}{
		{"busy", time.Hour, [4]int{0, 0, 0, 0}},
		{"quiet", 20 * time.Millisecond, wantKeepAlive},
	} {
		t.Run(tt.name, func(t *testing.T) {
			port := echoServer(t)
			srv, addr, _ := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, true, allowlist.TLSOptional)}, loopbackHosts, nil)
			srv.parkAfter = tt.parkAfter
			c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
			c.Write([]byte("ping"))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 4)); err != nil {
				t.Fatal(err)
			}
			if tt.parkAfter < time.Second {
				for deadline := time.Now().Add(5 * time.Second); srv.parked() < 2; time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("%d pumps parked after 5 s, want 2", srv.parked())
					}
				}
			}
			srv.mu.Lock()
			var origin net.Conn
			for tun := range srv.tunnels {
				origin = tun.origin
			}
			srv.mu.Unlock()
			if origin == nil {
				t.Fatal("no tunnel open")
			}
			// Without SO_KEEPALIVE the kernel's defaults stand in the other three: compare only it.
			if got := keepAliveOptions(t, origin); got[0] != tt.want[0] || (tt.want[0] == 1 && got != tt.want) {
				t.Errorf("origin socket: keepalive options %v, want %v", got, tt.want)
			}
		})
	}
}
