package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/proxy/clienthello"
)

// TransparentMode says how netfilter hands intercepted connections to a transparent listener,
// and so where their original destination is found.
type TransparentMode uint8

const (
	// TransparentRedirect: nat REDIRECT rewrote the destination; conntrack keeps the original
	// (SO_ORIGINAL_DST).
	TransparentRedirect TransparentMode = iota
	// TransparentTProxy: mangle TPROXY delivered the connection unchanged to an IP_TRANSPARENT
	// listener; its local address is the original destination.
	TransparentTProxy
)

// ParseTransparentMode parses transparent.mode.
func ParseTransparentMode(s string) (TransparentMode, error) {
	switch s {
	case "", "redirect":
		return TransparentRedirect, nil
	case "tproxy":
		return TransparentTProxy, nil
	}
	return TransparentRedirect, fmt.Errorf("%q is not one of redirect, tproxy", s)
}

func (m TransparentMode) String() string {
	if m == TransparentTProxy {
		return "tproxy"
	}
	return "redirect"
}

// ServeTransparent accepts intercepted connections on ln (from ListenTransparent) until
// Shutdown, as Serve does for proxy connections. Each is decided from its original destination
// and its ClientHello before anything is dialled, then spliced like a CONNECT tunnel.
func (s *Server) ServeTransparent(ln net.Listener, mode TransparentMode) error {
	return s.serve(ln, func(c net.Conn) { s.serveIntercepted(c, mode) })
}

// serveIntercepted runs one intercepted connection: original destination, client check, loop
// check, ClientHello (read before anything is dialled), decision, dial of the original
// destination only, splice. Refusals close the connection, with a TLS alert when the client
// spoke TLS; nothing reaches an origin.
func (s *Server) serveIntercepted(c net.Conn, mode TransparentMode) {
	s.metrics.Intercepted.Add(1)
	ss := &session{srv: s, set: s.settings.Load(), conn: c, start: time.Now()}
	defer ss.setupDone()
	defer ss.recoverSession()
	ss.client = addrPortOf(c.RemoteAddr())
	ev := ss.event(events.ActionDeny)
	ev.Intercepted = true
	q, ok := ss.interceptedTarget(ev, mode)
	if !ok {
		return
	}
	dst := netip.AddrPortFrom(q.Addr, q.Port)

	ss.lr = io.LimitedReader{R: c}
	ss.br = readerPool.Get().(*bufio.Reader)
	ss.br.Reset(&ss.lr)
	defer ss.putReader()
	bufp := helloPool.Get().(*[]byte)
	defer putHelloBuf(bufp)
	info, raw, herr := ss.readHello(bufp)
	alert := uint8(0)
	if herr == nil {
		alert = clienthello.AlertUnrecognizedName
		if sni := info.ServerName; sni != "" {
			name, nerr := allowlist.NormalizeName(sni)
			ev.SNI = sni
			if nerr != nil {
				ss.reject(ev, nil, alert, allowlist.ReasonBadSNI, nerr.Error())
				return
			}
			ev.SNI, q.SNI = name, name
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), ss.set.Timeouts.Connect)
	defer cancel()
	in := s.DecideIntercepted(ctx, ss.set, q)
	d := in.Decision
	ev.Rule = d.RuleName()
	if !d.Allowed() {
		ss.reject(ev, nil, alert, d.Reason, in.Msg)
		return
	}
	if in.Reported() {
		ev.EnforceAction, ev.EnforceReason = events.ActionDeny, in.Enforce.Reason.String()
	}
	if herr != nil && !ss.helloFailed(ev, nil, herr, raw, d) {
		return
	}

	if !ss.takeSlot(ev) {
		return
	}
	origin, ahead := ss.dialIntercepted(ctx, ev, d, dst)
	cancel()
	if origin == nil {
		return
	}
	// A spliced hello is checked again if the server answers with a HelloRetryRequest; flows
	// handed to the upstream or let through by default_action allow carry any bytes, as for
	// CONNECT.
	ss.splice(ev, q, d, origin, bufp, raw, herr == nil && d.Action == allowlist.Splice, int64(len(ahead)))
}

// interceptedTarget finds where the client meant to go and refuses, before reading anything,
// a connection whose original destination cannot be read, a client outside clients and a flow
// aimed at mdmproxy itself. It returns the query so far (client, address, port).
func (ss *session) interceptedTarget(ev *events.Event, mode TransparentMode) (allowlist.Query, bool) {
	dst, err := originalDst(ss.conn, mode)
	if err != nil {
		ss.reject(ev, nil, 0, allowlist.ReasonNoOriginalDst, err.Error())
		return allowlist.Query{}, false
	}
	dst = netip.AddrPortFrom(allowlist.CanonicalAddr(dst.Addr()), dst.Port())
	ev.DestIP, ev.DestPort = dst.Addr(), dst.Port()
	q := allowlist.Query{Client: ss.client.Addr(), Addr: dst.Addr(), Port: dst.Port()}
	if !ss.set.Policy.ClientAllowed(q.Client) {
		d := allowlist.Decision{Reason: allowlist.ReasonClientNotAllowed}
		ss.reject(ev, nil, 0, d.Reason, d.Explain(q))
		return q, false
	}
	if ss.srv.isOwn(dst) {
		ss.reject(ev, nil, 0, allowlist.ReasonOwnAddress, "the original destination "+dst.String()+" is mdmproxy itself")
		return q, false
	}
	return q, true
}

// dialIntercepted opens the flow's onward connection: to the original destination, and to
// nothing else, or for default_action upstream through the upstream proxy with the original
// destination as the CONNECT target (bytes the upstream sent past its 200 are passed on to the
// client and returned). On failure it has closed the connection and returns nil.
func (ss *session) dialIntercepted(ctx context.Context, ev *events.Event, d allowlist.Decision, dst netip.AddrPort) (net.Conn, []byte) {
	if d.Action == allowlist.Upstream {
		origin, ahead := ss.viaUpstream(ctx, ev, d, dst.String(), "")
		if origin != nil && len(ahead) > 0 {
			ss.conn.SetWriteDeadline(time.Now().Add(ss.set.Timeouts.Connect))
			if _, err := ss.conn.Write(ahead); err != nil {
				ss.abandon(ev, d, origin, allowlist.ReasonClientClosed, err)
				return nil, nil
			}
			ss.conn.SetWriteDeadline(time.Time{})
		}
		return origin, ahead
	}
	dialStart := time.Now()
	origin, err := ss.dialOne(ctx, dst.Addr(), dst.Port())
	if err != nil {
		reason := allowlist.ReasonDialFailed
		if isTimeout(err) {
			reason = allowlist.ReasonDialTimeout
		}
		ss.fail(ev, d, 0, reason, err)
		return nil, nil
	}
	ss.srv.obs().dial.Observe(time.Since(dialStart).Seconds())
	return origin, nil
}

// isOwn reports whether dialling dst would reach mdmproxy itself: dst is one of the addresses
// the server listens on (its own listeners and OwnAddrs), directly or through a wildcard
// listener on one of this host's addresses, or an address no flow can be meant for.
func (s *Server) isOwn(dst netip.AddrPort) bool {
	a := dst.Addr()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
		return true
	}
	s.mu.Lock()
	own := append([]netip.AddrPort(nil), s.OwnAddrs...)
	for ln := range s.listeners {
		own = append(own, addrPortOf(ln.Addr()))
	}
	s.mu.Unlock()
	wildcard := false
	for _, o := range own {
		if o.Port() != dst.Port() {
			continue
		}
		if o.Addr() == a {
			return true
		}
		wildcard = wildcard || o.Addr().IsUnspecified()
	}
	return wildcard && isLocalAddr(a)
}

// isLocalAddr reports whether a is an address of this host. It asks the kernel each time: it
// runs only for flows aimed at the port of a wildcard listener, and addresses change.
func isLocalAddr(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // cannot tell: refusing is the side that cannot loop
	}
	for _, ia := range addrs {
		if p, ok := ia.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(p.IP); ok && b.Unmap() == a {
				return true
			}
		}
	}
	return false
}
