package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// LookupFunc resolves a name to addresses, like (*net.Resolver).LookupNetIP.
type LookupFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// Resolve resolves a normalised name once: the static hosts first, then lookup (DNS when
// lookup is nil). Addresses come back canonical (IPv4-mapped IPv6 unmapped) in answer order.
// The same function serves the proxy and `mdmproxy check`, so both see the same addresses.
func Resolve(ctx context.Context, hosts map[string][]netip.Addr, lookup LookupFunc, name string) ([]netip.Addr, error) {
	if addrs, ok := hosts[name]; ok {
		return addrs, nil
	}
	if lookup == nil {
		lookup = net.DefaultResolver.LookupNetIP
	}
	addrs, err := lookup(ctx, "ip", name)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", name, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolving %s: no addresses", name)
	}
	for i, a := range addrs {
		addrs[i] = allowlist.CanonicalAddr(a)
	}
	return addrs, nil
}

// isTimeout reports whether err is a time-out of any kind (deadline, context, DNS).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
