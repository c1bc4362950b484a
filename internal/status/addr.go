package status

import (
	"cmp"
	"net"
	"net/netip"
	"strconv"
)

// compareAddr orders client addresses numerically (IPv4 before IPv6), and anything that does
// not parse after them, as text.
func compareAddr(a, b string) int {
	pa, erra := netip.ParseAddr(a)
	pb, errb := netip.ParseAddr(b)
	switch {
	case erra == nil && errb == nil:
		return pa.Compare(pb)
	case erra == nil:
		return -1
	case errb == nil:
		return 1
	}
	return cmp.Compare(a, b)
}

func joinHostPort(host string, port uint16) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}
