package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/proxy/clienthello"
)

// helloPool recycles ClientHello buffers; 4 KiB holds a post-quantum hello, larger ones grow
// the buffer for that connection only.
var helloPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// connect runs a CONNECT in the order of the spec: client check, target match, resolve and
// address check (refusal: 403), dial (502/504), 200, ClientHello and SNI check (refusal: a TLS
// alert and close), splice. The policy is asked again at each step with what is known so far.
func (ss *session) connect(rawTarget string) {
	pol := ss.set.Policy
	ev := ss.event(events.ActionDeny)
	q := allowlist.Query{Client: ss.client.Addr()}

	// The client is checked first, before the target is even parsed: a query with only the
	// client gets ReasonClientNotAllowed from the decision function when it is refused.
	if d := pol.Decide(q); d.Reason == allowlist.ReasonClientNotAllowed {
		ss.refuse(ev, http.StatusForbidden, d.Reason, d.Explain(q))
		return
	}
	target, err := allowlist.ParseTarget(rawTarget)
	if err != nil {
		ev.RawTarget = rawTarget[:min(len(rawTarget), maxLoggedTarget)] // never destination.domain
		ss.refuse(ev, http.StatusBadRequest, allowlist.ReasonBadTarget, err.Error())
		return
	}
	q.Name, q.Addr, q.Port = target.Name, target.Addr, target.Port
	ev.DestDomain, ev.DestIP, ev.DestPort = target.Name, target.Addr, target.Port

	d := pol.Decide(q)
	ev.Rule = d.RuleName()
	if !d.Allowed() {
		ss.refuse(ev, http.StatusForbidden, d.Reason, d.Explain(q))
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), ss.set.Timeouts.Connect)
	defer cancel()
	candidates := []netip.Addr{q.Addr}
	if q.Name != "" {
		addrs, err := Resolve(ctx, ss.set.Hosts, ss.srv.Lookup, q.Name)
		if err != nil {
			reason, status := allowlist.ReasonResolveFailed, http.StatusBadGateway
			if isTimeout(err) {
				reason, status = allowlist.ReasonResolveTimeout, http.StatusGatewayTimeout
			}
			ss.fail(ev, d, status, reason, err)
			return
		}
		// The address checked is the address dialled: keep the answers the policy allows, in
		// answer order, and refuse only when none is allowed.
		candidates = candidates[:0]
		var refused allowlist.Decision
		for _, a := range addrs {
			q.Addr = a
			if da := pol.Decide(q); da.Allowed() {
				candidates = append(candidates, a)
			} else if len(candidates) == 0 {
				refused = da
				ev.DestIP = a
			}
		}
		if len(candidates) == 0 {
			ev.Rule = refused.RuleName()
			ss.refuse(ev, http.StatusForbidden, refused.Reason, refused.Explain(q))
			return
		}
	}

	dialStart := time.Now()
	origin, addr, err := ss.dial(ctx, candidates, q.Port)
	cancel()
	if err != nil {
		reason, status := allowlist.ReasonDialFailed, http.StatusBadGateway
		if isTimeout(err) {
			reason, status = allowlist.ReasonDialTimeout, http.StatusGatewayTimeout
		}
		ev.DestIP = candidates[0]
		ss.fail(ev, d, status, reason, err)
		return
	}
	q.Addr, ev.DestIP = addr, addr
	ss.srv.obs().dial.Observe(time.Since(dialStart).Seconds())

	if _, err := ss.conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		origin.Close()
		ss.fail(ev, d, 0, allowlist.ReasonClientClosed, err)
		return
	}
	ss.afterConnect(ev, q, d, origin)
}

// afterConnect reads the ClientHello, checks its server name and splices.
func (ss *session) afterConnect(ev *events.Event, q allowlist.Query, d allowlist.Decision, origin net.Conn) {
	bufp := helloPool.Get().(*[]byte)
	defer putHelloBuf(bufp)
	info, raw, err := ss.readHello(bufp)
	if err == nil {
		if sni := info.ServerName; sni != "" {
			name, nerr := allowlist.NormalizeName(sni)
			ev.SNI = sni
			if nerr != nil {
				ss.reject(ev, origin, clienthello.AlertUnrecognizedName, allowlist.ReasonBadSNI, nerr.Error())
				return
			}
			ev.SNI = name
			q.SNI = name
			d = ss.set.Policy.Decide(q)
			ev.Rule = d.RuleName()
			if !d.Allowed() {
				ss.reject(ev, origin, clienthello.AlertUnrecognizedName, d.Reason, d.Explain(q))
				return
			}
		}
	} else if !ss.helloFailed(ev, origin, err, raw, d) {
		return
	}
	ss.splice(ev, q, d, origin, bufp, raw, err == nil)
}

// putHelloBuf gives a hello buffer back unless one hello made it grow large.
func putHelloBuf(bufp *[]byte) {
	if cap(*bufp) <= 16<<10 {
		helloPool.Put(bufp)
	}
}

// readHello reads the client's first bytes as a ClientHello into *bufp, within
// limits.max_hello_bytes and timeouts.hello. raw is what was read, whatever the outcome.
func (ss *session) readHello(bufp *[]byte) (info clienthello.Info, raw []byte, err error) {
	max := ss.set.Limits.MaxHelloBytes
	ss.lr.N = int64(max)
	ss.conn.SetReadDeadline(time.Now().Add(ss.set.Timeouts.Hello))
	helloStart := time.Now()
	info, raw, err = clienthello.Read(ss.br, (*bufp)[:0], max)
	*bufp = raw[:0]
	if err == nil {
		ss.srv.obs().hello.Observe(time.Since(helloStart).Seconds())
	}
	return info, raw, err
}

// helloFailed handles first bytes that were not a whole ClientHello (err and raw from
// readHello) under the decision d. It reports true when d's rule has tls: optional and the
// bytes may be spliced unchecked (not TLS, or none because the server speaks first); otherwise
// it refuses the connection and reports false. origin is nil when nothing was dialled yet.
func (ss *session) helloFailed(ev *events.Event, origin net.Conn, err error, raw []byte, d allowlist.Decision) bool {
	optional := d.Rule != nil && d.Rule.TLS == allowlist.TLSOptional
	switch {
	case errors.Is(err, clienthello.ErrNotTLS) && optional:
		return true // tls: optional splices any bytes
	case isTimeout(err) && len(raw) == 0 && optional:
		return true // a protocol where the server speaks first: nothing to check
	case errors.Is(err, clienthello.ErrNotTLS):
		ss.reject(ev, origin, 0, allowlist.ReasonNotTLS, "the first bytes are not a TLS ClientHello and the rule requires TLS")
	default:
		ss.refuseHello(ev, origin, err)
	}
	return false
}

// splice finishes the set-up of an allowed tunnel whose origin is dialled. After a checked
// hello it waits for the server's first answer (a HelloRetryRequest makes the client's second
// hello go through the same check); then it emits the decision event, replays to the origin
// what the client sent (raw, and whatever the reader buffered after it: 0-RTT data) and starts
// the tunnel.
func (ss *session) splice(ev *events.Event, q allowlist.Query, d allowlist.Decision, origin net.Conn, bufp *[]byte, raw []byte, checked bool) {
	var sent, received int64 // bytes already passed on before the splice
	if checked {
		var ok bool
		if raw, sent, received, ok = ss.awaitServer(ev, q, d, origin, raw); !ok {
			return
		}
		*bufp = raw[:0]
	}
	ss.conn.SetReadDeadline(time.Time{})

	ev.Action = actionOf(d.Action)
	ev.Reason = d.Reason.String()
	if ev.DestDomain == "" && q.SNI != "" {
		ev.DestDomain = q.SNI // ECS: the SNI is the destination's domain when it is known
	}
	ss.srv.metrics.Spliced.Add(1)
	ss.srv.emit(ev)

	if ahead := ss.br.Buffered(); ahead > 0 {
		extra, _ := ss.br.Peek(ahead)
		raw = append(raw, extra...)
		*bufp = raw[:0]
	}
	origin.SetWriteDeadline(time.Now().Add(ss.set.Timeouts.Connect))
	if len(raw) > 0 {
		if _, err := origin.Write(raw); err != nil {
			ss.conn.Close()
			origin.Close()
			end := &events.Event{Time: time.Now(), Action: events.ActionEnd, Reason: allowlist.ReasonReset.String(), Outcome: events.OutcomeFailure,
				SourceIP: ev.SourceIP, SourcePort: ev.SourcePort, DestDomain: ev.DestDomain, DestIP: ev.DestIP, DestPort: ev.DestPort,
				SNI: ev.SNI, Rule: ev.Rule, Duration: time.Since(ss.start), Intercepted: ev.Intercepted}
			ss.srv.emit(end)
			return
		}
	}
	origin.SetWriteDeadline(time.Time{})

	t := newTunnel(ss.srv, ss.conn, origin, d.Rule, ss.set.Timeouts, ev, ss.start, sent+int64(len(raw)))
	t.down.Store(received)
	// The set-up state is no longer needed: give the reader back before the tunnel idles.
	ss.putReader()
	if !t.start() {
		end := *ev
		end.Time, end.Action, end.Reason, end.Duration = time.Now(), events.ActionEnd, allowlist.ReasonShutdown.String(), time.Since(ss.start)
		ss.srv.emit(&end)
	}
	ss.setupDone() // after start: Shutdown counts this connection as pending or as a tunnel, never neither
}

func actionOf(a allowlist.Action) events.Action {
	switch a {
	case allowlist.Splice:
		return events.ActionSplice
	case allowlist.Upstream:
		return events.ActionUpstream
	case allowlist.Allow:
		return events.ActionAllow
	}
	return events.ActionDeny
}

// maxLoggedTarget bounds the unparsable CONNECT target an event repeats: a head may be up to
// limits.max_header_bytes long, and a name up to 253 bytes.
const maxLoggedTarget = 512

// dial tries the allowed addresses in order until one answers, all within ctx.
func (ss *session) dial(ctx context.Context, addrs []netip.Addr, port uint16) (net.Conn, netip.Addr, error) {
	var firstErr error
	for _, a := range addrs {
		c, err := ss.dialOne(ctx, a, port)
		if err == nil {
			return c, a, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, netip.Addr{}, firstErr
}

// originDialer opens origin connections without keepalive: a tunnel that is busy does not need
// it, and the options are set when the tunnel first goes quiet (tunnel.keepAlive), which saves
// four system calls on every short tunnel.
var originDialer = net.Dialer{KeepAlive: -1}

func (ss *session) dialOne(ctx context.Context, a netip.Addr, port uint16) (net.Conn, error) {
	// Not Dialer.DialTCP: given no local address it binds one explicitly, a system call more,
	// and a bind to port 0 cannot reuse a port in TIME-WAIT the way connect does.
	addr := netip.AddrPortFrom(a, port).String()
	if ss.srv.Dial != nil {
		return ss.srv.Dial(ctx, "tcp", addr)
	}
	return originDialer.DialContext(ctx, "tcp", addr)
}

// refuse answers a CONNECT refused before the tunnel opened, with a one-line reason.
func (ss *session) refuse(ev *events.Event, status int, reason allowlist.Reason, msg string) {
	ev.Action = events.ActionDeny
	ev.Outcome = events.OutcomeFailure
	ev.Reason = reason.String()
	ev.StatusCode = status // http.response.status_code: what the client was answered
	ss.srv.metrics.Denied.Add(1)
	ss.srv.emit(ev)
	writeStatus(ss.conn, status, msg)
	ss.conn.Close()
}

// fail answers a CONNECT the policy allowed but the proxy could not carry out. The client gets
// a fixed line for the reason: the error's text (the resolved address, the resolver's address,
// the proxy's network state) goes to the operational log, and the event carries the facts.
func (ss *session) fail(ev *events.Event, d allowlist.Decision, status int, reason allowlist.Reason, err error) {
	ev.Action = actionOf(d.Action)
	ev.Outcome = events.OutcomeFailure
	ev.Reason = reason.String()
	ev.StatusCode = status // 0 (left out) when nothing was answered
	ss.srv.metrics.Failed.Add(1)
	ss.srv.emit(ev)
	ss.srv.Log.Info().Str("client", ss.client.String()).Str("target", ev.DestDomain).
		Str("reason", reason.String()).Err(err).Msg("tunnel set-up failed")
	if status != 0 {
		writeStatus(ss.conn, status, reason.String()+": "+failText[reason])
	}
	ss.conn.Close()
}

// failText is the line a client reads when an allowed CONNECT could not be carried out.
var failText = map[allowlist.Reason]string{
	allowlist.ReasonResolveFailed:   "the destination's name did not resolve",
	allowlist.ReasonResolveTimeout:  "the destination's name did not resolve in time",
	allowlist.ReasonDialFailed:      "the destination could not be reached",
	allowlist.ReasonDialTimeout:     "the destination did not answer in time",
	allowlist.ReasonUpstreamFailed:  "the upstream proxy could not be reached or failed",
	allowlist.ReasonUpstreamTimeout: "the upstream proxy did not answer in time",
	allowlist.ReasonClientClosed:    "the client went away",
	allowlist.ReasonReset:           "the destination failed the exchange",
}

// reject closes a tunnel refused after the 200: with a TLS alert when the client spoke TLS.
// origin is nil when nothing was dialled (an intercepted flow).
func (ss *session) reject(ev *events.Event, origin net.Conn, alert uint8, reason allowlist.Reason, msg string) {
	if origin != nil {
		origin.Close()
	}
	if alert != 0 {
		ss.conn.SetWriteDeadline(time.Now().Add(time.Second))
		ss.conn.Write(clienthello.Alert(alert))
	}
	ev.Action = events.ActionDeny
	ev.Outcome = events.OutcomeFailure
	ev.Reason = reason.String()
	ss.srv.metrics.Denied.Add(1)
	ss.srv.emit(ev)
	ss.srv.Log.Debug().Str("client", ss.client.String()).Str("reason", reason.String()).Msg(msg)
	ss.conn.Close()
}
