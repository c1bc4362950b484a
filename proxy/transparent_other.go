//go:build !linux

package proxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
)

// ErrTransparentUnsupported is returned by ListenTransparent outside Linux.
var ErrTransparentUnsupported = errors.New("transparent interception needs Linux (netfilter REDIRECT or TPROXY)")

// ListenTransparent fails outside Linux.
func ListenTransparent(ctx context.Context, addr string, mode TransparentMode) (net.Listener, error) {
	return nil, ErrTransparentUnsupported
}

func originalDst(c net.Conn, mode TransparentMode) (netip.AddrPort, error) {
	return netip.AddrPort{}, ErrTransparentUnsupported
}
