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

// connect runs a CONNECT in the order of the spec, as stages: the target; admission (client
// check, decision, resolve and address check; a refusal is 403); the limits (503, 429); the
// forwarder the decision's action chooses (a direct dial, or a CONNECT to the upstream; a
// failure is 502 or 504, an upstream's refusal is relayed); the 200; for a splice the
// ClientHello and SNI check (a refusal is a TLS alert and close); the splice. clientAuth is
// the client's Proxy-Authorization, passed on to an upstream that has no credentials.
func (ss *session) connect(rawTarget, clientAuth string) {
	ev := ss.event(events.ActionDeny)
	target, err := allowlist.ParseTarget(rawTarget)
	if err != nil {
		if !ss.set.Policy.ClientAllowed(ss.client.Addr()) {
			ss.refuse(ev, http.StatusForbidden, allowlist.ReasonClientNotAllowed, "client "+ss.client.Addr().String()+" is not in clients")
			return
		}
		ev.RawTarget = rawTarget[:min(len(rawTarget), maxLoggedTarget)] // never destination.domain
		ss.refuse(ev, http.StatusBadRequest, allowlist.ReasonBadTarget, err.Error())
		return
	}
	q := allowlist.Query{Client: ss.client.Addr(), Name: target.Name, Addr: target.Addr, Port: target.Port}
	ev.DestDomain, ev.DestIP, ev.DestPort = target.Name, target.Addr, target.Port

	ctx, cancel := context.WithTimeout(context.Background(), ss.set.Timeouts.Connect)
	defer cancel()
	adm := Admit(ctx, ss.set, ss.srv.Lookup, ss.srv.isOwn, q, nil)
	d := adm.Decision
	describeAdmission(ev, adm)
	switch {
	case !d.Allowed():
		if adm.Refused.IsValid() {
			q.Addr, ev.DestIP = adm.Refused, adm.Refused
		}
		ss.refuse(ev, http.StatusForbidden, d.Reason, d.Explain(q))
		return
	case adm.Err != nil:
		status := http.StatusBadGateway
		if adm.Fail == allowlist.ReasonResolveTimeout {
			status = http.StatusGatewayTimeout
		}
		ss.fail(ev, d, status, adm.Fail, adm.Err)
		return
	}
	if !ss.takeSlot(ev) {
		return
	}

	var origin net.Conn
	var ahead []byte // bytes the upstream sent past its 200, for the client
	if d.Action == allowlist.Upstream {
		if origin, ahead = ss.viaUpstream(ctx, ev, d, target.HostPort(), clientAuth); origin == nil {
			return
		}
	} else {
		dialStart := time.Now()
		var addr netip.Addr
		if origin, addr, err = ss.dial(ctx, adm.Addrs, q.Port); err != nil {
			reason, status := allowlist.ReasonDialFailed, http.StatusBadGateway
			if isTimeout(err) {
				reason, status = allowlist.ReasonDialTimeout, http.StatusGatewayTimeout
			}
			ev.DestIP = adm.Addrs[0]
			ss.fail(ev, d, status, reason, err)
			return
		}
		q.Addr, ev.DestIP = addr, addr
		ss.srv.obs().dial.Observe(time.Since(dialStart).Seconds())
	}
	cancel()

	if _, err := ss.conn.Write(append([]byte("HTTP/1.1 200 Connection established\r\n\r\n"), ahead...)); err != nil {
		ss.abandon(ev, d, origin, allowlist.ReasonClientClosed, err)
		return
	}
	if d.Action != allowlist.Splice {
		// upstream and allow carry any bytes: no ClientHello is read or checked.
		bufp := helloPool.Get().(*[]byte)
		defer putHelloBuf(bufp)
		ss.splice(ev, q, d, origin, bufp, nil, false, int64(len(ahead)))
		return
	}
	ss.afterConnect(ev, q, d, origin)
}

// describeAdmission puts what admission decided into the decision event: the rule, and in
// report mode what enforce would have done when it would have refused.
func describeAdmission(ev *events.Event, adm Admission) {
	ev.Rule = adm.Decision.RuleName()
	if adm.Reported() {
		ev.EnforceAction, ev.EnforceReason = actionOf(adm.Enforce.Action), adm.Enforce.Reason.String()
		ev.Rule = adm.Enforce.RuleName()
	}
}

// viaUpstream opens the tunnel through the upstream proxy: the client's original target, its
// address in X-Forwarded-For, its own credentials when the upstream URL has none. On failure
// it has answered the client (502, 504, or the upstream's refusal relayed) and returns nil.
func (ss *session) viaUpstream(ctx context.Context, ev *events.Event, d allowlist.Decision, target, clientAuth string) (net.Conn, []byte) {
	up := ss.set.Upstream
	if up == nil {
		ss.fail(ev, d, http.StatusBadGateway, allowlist.ReasonUpstreamFailed, errors.New("no upstream proxy is configured"))
		return nil, nil
	}
	ev.Upstream = up.String()
	dialStart := time.Now()
	t, err := up.connect(ctx, ss.srv.dial, target, ss.client.Addr(), clientAuth, ss.set.Limits.MaxHeaderBytes)
	var refusal *upstreamRefusal
	switch {
	case errors.As(err, &refusal):
		ss.finish(ev, outcome{action: events.ActionUpstream, reason: allowlist.ReasonUpstreamRefused,
			status: refusal.status, resp: refusal.resp})
		return nil, nil
	case isTimeout(err):
		ss.fail(ev, d, http.StatusGatewayTimeout, allowlist.ReasonUpstreamTimeout, err)
		return nil, nil
	case err != nil:
		ss.fail(ev, d, http.StatusBadGateway, allowlist.ReasonUpstreamFailed, err)
		return nil, nil
	}
	ss.origin = t.conn
	ss.srv.obs().dial.Observe(time.Since(dialStart).Seconds())
	return t.conn, t.ahead
}

// takeSlot reserves the connection's place under limits.max_tunnels and
// limits.max_tunnels_per_client, before anything is dialled; over a limit it answers 503 or
// 429 and reports false. The slot is the tunnel's once it starts, and given back by setupDone
// on every other path.
func (ss *session) takeSlot(ev *events.Event) bool {
	ok, reason, status := ss.srv.slots.take(ss.client.Addr(), ss.set.Limits)
	if !ok {
		ss.refuse(ev, status, reason, "too many tunnels; try again later")
		return false
	}
	ss.slot = true
	return true
}

// afterConnect reads the ClientHello, checks its server name and splices.
func (ss *session) afterConnect(ev *events.Event, q allowlist.Query, d allowlist.Decision, origin net.Conn) {
	bufp := helloPool.Get().(*[]byte)
	defer putHelloBuf(bufp)
	info, raw, err := ss.readHello(bufp)
	if err == nil {
		// An Encrypted Client Hello is decided by its outer name like any hello (Chrome's
		// GREASE ECH cannot be told from the real thing); the event says it was there.
		ev.ECH = info.ECH
		if sni := info.ServerName; sni != "" {
			name, nerr := allowlist.NormalizeName(sni)
			ev.SNI = sni
			if nerr != nil {
				ss.reject(ev, origin, clienthello.AlertUnrecognizedName, allowlist.ReasonBadSNI, nerr.Error())
				return
			}
			ev.SNI = name
			q.SNI = name
			d = ss.decideHello(ev, q)
			if !d.Allowed() {
				ss.reject(ev, origin, clienthello.AlertUnrecognizedName, d.Reason, d.Explain(q))
				return
			}
		}
	} else if !ss.helloFailed(ev, origin, err, raw, d) {
		return
	}
	ss.splice(ev, q, d, origin, bufp, raw, err == nil, 0)
}

// decideHello asks the policy again with the ClientHello's server name, and carries out report
// mode: a refusal it lets through is recorded in the event as what enforce would have done.
func (ss *session) decideHello(ev *events.Event, q allowlist.Query) allowlist.Decision {
	pol := ss.set.Policy
	e := pol.Decide(q)
	d := pol.Enforced(q, e)
	ev.Rule = e.RuleName()
	if d.Allowed() && !e.Allowed() {
		ev.EnforceAction, ev.EnforceReason = actionOf(e.Action), e.Reason.String()
	}
	return d
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
	case errors.Is(err, clienthello.ErrNotTLS) && ss.set.Policy.Report():
		// A refusal by policy: report mode lets it through and says what enforce would do.
		ev.EnforceAction, ev.EnforceReason = events.ActionDeny, allowlist.ReasonNotTLS.String()
		return true
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
func (ss *session) splice(ev *events.Event, q allowlist.Query, d allowlist.Decision, origin net.Conn, bufp *[]byte, raw []byte, checked bool, received int64) {
	var sent int64 // bytes already passed on before the splice, each way
	if checked {
		var ok bool
		var down int64
		if raw, sent, down, ok = ss.awaitServer(ev, q, &d, origin, raw); !ok {
			return
		}
		received += down
		*bufp = raw[:0]
	}
	// The read deadlines of the set-up (header, hello, the server's answer) stay on the sockets:
	// each pump sets its own before it first waits.

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
	if len(raw) > 0 {
		if err := writeBounded(origin, raw, ss.set.Timeouts.Connect); err != nil {
			ss.conn.Close()
			origin.Close()
			end := endEvent(ev, allowlist.ReasonReset, ss.start, sent, received)
			ss.srv.emit(end)
			return
		}
	}

	t := newTunnel(ss.srv, ss.conn, origin, d.Rule, ss.set.Timeouts, ev, ss.start, sent+int64(len(raw)))
	t.decidedBy(q, ss.set, checked)
	t.retryOther = ss.retryOther
	t.down.Store(received)
	// The set-up state is no longer needed: give the reader back before the tunnel idles.
	ss.putReader()
	t.holdsSlot = ss.slot // the tunnel holds the limits' slot now, and gives it back
	if t.start() {
		ss.slot = false
	} else {
		ss.srv.emit(endEvent(ev, allowlist.ReasonShutdown, ss.start, 0, 0))
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
	var c net.Conn
	var err error
	if ss.srv.Dial != nil {
		c, err = ss.srv.Dial(ctx, "tcp", addr)
	} else {
		c, err = originDialer.DialContext(ctx, "tcp", addr)
	}
	if err == nil {
		ss.origin = c
	}
	return c, err
}
