//go:build linux

package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ip6tSOOriginalDst is IP6T_SO_ORIGINAL_DST (linux/netfilter_ipv6/ip6_tables.h), the IPv6
// twin of SO_ORIGINAL_DST; golang.org/x/sys/unix names only the IPv4 one. Both are 80.
const ip6tSOOriginalDst = 80

// ListenTransparent opens a listener for connections redirected by netfilter. Under
// TransparentTProxy the socket gets IP_TRANSPARENT (or IPV6_TRANSPARENT), so that it accepts
// connections addressed to any destination that the TPROXY rule sends to it; under
// TransparentRedirect it is an ordinary listener. Both carry the proxy listener's KeepAlive.
// Accepted connections are *net.TCPConn, so intercepted tunnels splice and park as CONNECT
// tunnels do.
func ListenTransparent(ctx context.Context, addr string, mode TransparentMode) (net.Listener, error) {
	control := setKeepAlive
	if mode == TransparentTProxy {
		control = func(network, address string, c syscall.RawConn) error {
			if err := setTransparent(network, c); err != nil {
				return err
			}
			return setKeepAlive(network, address, c)
		}
	}
	lc := net.ListenConfig{KeepAlive: -1, Control: control}
	return lc.Listen(ctx, "tcp", addr)
}

// setTransparent sets IP_TRANSPARENT on an IPv4 socket and IPV6_TRANSPARENT on an IPv6 one
// (a dual-stack socket needs only the IPv6 option). It needs CAP_NET_ADMIN.
func setTransparent(network string, c syscall.RawConn) error {
	var err error
	cerr := c.Control(func(fd uintptr) {
		if network == "tcp4" {
			err = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
			return
		}
		err = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_TRANSPARENT, 1)
	})
	if err = errors.Join(cerr, err); err != nil {
		return fmt.Errorf("setting IP_TRANSPARENT (needs CAP_NET_ADMIN): %w", err)
	}
	return nil
}

// originalDst is where the client meant to connect. Under TPROXY the connection's local
// address is the original destination; under REDIRECT the NAT table rewrote it, and conntrack
// keeps the original, read with SO_ORIGINAL_DST (IPv4) or IP6T_SO_ORIGINAL_DST (IPv6).
func originalDst(c net.Conn, mode TransparentMode) (netip.AddrPort, error) {
	local := addrPortOf(c.LocalAddr())
	if mode == TransparentTProxy {
		return local, nil
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return netip.AddrPort{}, errors.New("not a TCP connection")
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var dst netip.AddrPort
	var serr error
	cerr := raw.Control(func(fd uintptr) {
		// The IPv4 option answers for IPv4 flows, including those a dual-stack socket accepted
		// (its local address is then IPv4 once unmapped).
		if local.Addr().Is4() {
			dst, serr = origDst4(int(fd))
		} else {
			dst, serr = origDst6(int(fd))
		}
	})
	if errors.Is(serr, unix.ENOENT) && cerr == nil {
		// conntrack has no translation: the client connected to the listener itself, not
		// through the REDIRECT rule; the loop check refuses it.
		return local, nil
	}
	if err := errors.Join(cerr, serr); err != nil {
		return netip.AddrPort{}, fmt.Errorf("reading the original destination (SO_ORIGINAL_DST): %w", err)
	}
	return dst, nil
}

func origDst4(fd int) (netip.AddrPort, error) {
	var sa unix.RawSockaddrInet4
	if err := getsockopt(fd, unix.SOL_IP, unix.SO_ORIGINAL_DST, unsafe.Pointer(&sa), unsafe.Sizeof(sa)); err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port)), nil
}

func origDst6(fd int) (netip.AddrPort, error) {
	var sa unix.RawSockaddrInet6
	if err := getsockopt(fd, unix.SOL_IPV6, ip6tSOOriginalDst, unsafe.Pointer(&sa), unsafe.Sizeof(sa)); err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port)), nil
}

// getsockopt is getsockopt(2) into a caller's structure; x/sys/unix has no typed getter for a
// sockaddr.
func getsockopt(fd, level, name int, p unsafe.Pointer, size uintptr) error {
	l := uint32(size)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// ntohs reads a port in network byte order as the kernel stored it.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}
