package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// readProxyHeader reads a PROXY protocol header (v1 or v2, github.com/pires/go-proxyproto)
// from the session's own buffered reader, within the header deadline and byte limit that
// serveConn has set. The connection itself is never wrapped: the tunnel that follows needs the
// raw *net.TCPConn to splice and park.
//
// From a source in proxy_protocol.trusted a header is required; it makes ss.client the
// original client and ss.balancer the peer. A LOCAL (v2) or UNKNOWN (v1) header, which a
// balancer sends for its own health checks, keeps the peer as the client. From any other
// source a header is refused. It reports false when the connection was refused (with an
// event, and closed).
func (ss *session) readProxyHeader() bool {
	if !ss.trusted(ss.client.Addr()) {
		if startsProxyHeader(ss.br) {
			// Whoever sends a header may claim any client address: refuse before anything of
			// it is believed.
			ss.refuseProxyHeader(allowlist.ReasonProxyHeaderUntrusted, "a PROXY protocol header from a source not in proxy_protocol.trusted")
			return false
		}
		return true // the common case: a client speaking HTTP, nothing consumed
	}
	h, err := proxyproto.Read(ss.br)
	switch {
	case errors.Is(err, proxyproto.ErrNoProxyProtocol) && ss.br.Buffered() == 0:
		// The balancer connected and left without a word (a TCP health check): no event.
		ss.conn.Close()
		return false
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		ss.refuseProxyHeader(allowlist.ReasonProxyHeaderMissing, "a source in proxy_protocol.trusted must send a PROXY protocol header")
		return false
	case err != nil && (isTimeout(err) || ss.lr.N <= 0):
		ss.refuseHead(err) // header_timeout or header_too_large
		return false
	case err != nil:
		ss.refuseProxyHeader(allowlist.ReasonBadProxyHeader, err.Error())
		return false
	}
	if h.Command.IsLocal() || h.TransportProtocol == proxyproto.UNSPEC {
		return true
	}
	src, ok := h.SourceAddr.(*net.TCPAddr)
	if !ok {
		ss.refuseProxyHeader(allowlist.ReasonBadProxyHeader, "the PROXY header names no TCP source")
		return false
	}
	ss.balancer = ss.client
	ap := src.AddrPort()
	ss.client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	return true
}

// startsProxyHeader reports whether the connection's first bytes are a PROXY protocol v1 or v2
// signature. It only peeks: what it looks at stays for the request head. A read error says no;
// reading the head will meet it again and answer it.
func startsProxyHeader(br *bufio.Reader) bool {
	first, err := br.Peek(1)
	if err != nil {
		return false
	}
	var sig []byte
	switch first[0] {
	case proxyproto.SIGV1[0]:
		sig = proxyproto.SIGV1
	case proxyproto.SIGV2[0]:
		sig = proxyproto.SIGV2
	default:
		return false
	}
	b, err := br.Peek(len(sig))
	return err == nil && bytes.Equal(b, sig)
}

// trusted reports whether addr is a load balancer allowed to send PROXY protocol headers.
func (ss *session) trusted(addr netip.Addr) bool {
	for _, p := range ss.set.ProxyProtocolTrusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// refuseProxyHeader refuses a connection for its PROXY header (or the lack of one): an event,
// and the connection closed without an answer, as what sent it is a balancer or a scanner.
func (ss *session) refuseProxyHeader(reason allowlist.Reason, msg string) {
	ss.finish(ss.event(events.ActionDeny), outcome{action: events.ActionDeny, reason: reason, msg: msg})
}

// RemoteAddr is the client, which a trusted PROXY header may have named, so the plain-HTTP
// server's requests carry it in RemoteAddr (the clients check and the events read it there).
func (pc *plainConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(pc.ss.client) }

type balancerKey struct{}

// withBalancer is the plain-HTTP server's ConnContext: it keeps the balancer that sent the
// connection's trusted PROXY header, so each request's events name it (mdmproxy.balancer).
func withBalancer(ctx context.Context, c net.Conn) context.Context {
	if pc, ok := c.(*plainConn); ok && pc.ss.balancer.IsValid() {
		return context.WithValue(ctx, balancerKey{}, pc.ss.balancer)
	}
	return ctx
}

// balancerOf is the balancer withBalancer kept; zero without one.
func balancerOf(ctx context.Context) netip.AddrPort {
	b, _ := ctx.Value(balancerKey{}).(netip.AddrPort)
	return b
}
