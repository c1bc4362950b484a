package proxy

import (
	"net"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/proxy/clienthello"
)

// outcome is how a connection that is not spliced ends: refused (by policy, for bad input or a
// limit) or failed (allowed, but the destination or the upstream could not be reached).
type outcome struct {
	// action is deny for a refusal, or the allowed action that failed.
	action events.Action
	reason allowlist.Reason
	// Before the 200: status is the HTTP status answered with the line msg, or resp a whole
	// response to relay instead (an upstream's refusal). After it: alert, when not 0, is the
	// TLS alert sent to a client that spoke TLS. status stays in the event either way.
	status int
	msg    string
	resp   []byte
	alert  uint8
	origin net.Conn // closed too, when the connection had been dialled
	unread bool     // the client's request was never read (see closeUnread)
	err    error    // the failure's own text, for the operational log only
}

// finish ends a connection that is not spliced: it answers the client (a status line, a
// relayed response or a TLS alert), emits the event, counts it and closes both connections.
// Every refusal and failure of a connection's set-up ends here.
func (ss *session) finish(ev *events.Event, o outcome) {
	if o.origin != nil {
		o.origin.Close()
	}
	if ev.Intercepted {
		// An intercepted client never spoke HTTP: no status line or relayed response, only a
		// TLS alert when it spoke TLS.
		o.status, o.resp = 0, nil
	}
	ss.srv.refused(ev, o.action, o.reason, o.status)
	// The limits' slot goes back before the client hears the answer: a client that retries at
	// once must find it free.
	ss.setupDone()
	switch {
	case o.err != nil:
		ss.srv.Log.Info().Str("client", ss.client.String()).Str("target", ev.DestDomain).
			Str("reason", o.reason.String()).Err(o.err).Msg("connection set-up failed")
	case o.msg != "" && o.status == 0:
		ss.srv.Log.Debug().Str("client", ss.client.String()).Str("reason", o.reason.String()).Msg(o.msg)
	}
	if o.unread {
		awaitRequest(ss.conn)
	}
	ss.conn.SetWriteDeadline(time.Now().Add(time.Second))
	switch {
	case o.resp != nil:
		ss.conn.Write(o.resp)
	case o.status != 0:
		writeStatus(ss.conn, o.status, o.msg)
	case o.alert != 0:
		ss.conn.Write(clienthello.Alert(o.alert))
	}
	if o.unread {
		closeUnread(ss.conn)
		return
	}
	ss.conn.Close()
}

// awaitRequest waits, for at most unreadLinger, until the client has sent the start of its
// request, and discards it. An answer that arrives before the request was written is an
// unsolicited response to an HTTP client: Go's transport, among others, drops the connection
// with an error instead of reading it, and the client never learns why it was refused. The
// decision (and its event) is made at accept all the same; only the answer waits.
func awaitRequest(c net.Conn) {
	var buf [1024]byte
	c.SetReadDeadline(time.Now().Add(unreadLinger))
	c.Read(buf[:])
	c.SetReadDeadline(time.Time{})
}

// closeUnread closes a connection whose request was left unread. Closing a socket that holds
// unread bytes sends a reset, which can destroy the answer before the client reads it; so the
// write side is shut first and what the client sends is discarded until it closes too, for at
// most unreadLinger and unreadMax bytes (net/http does the same after an early answer).
func closeUnread(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
		tc.SetReadDeadline(time.Now().Add(unreadLinger))
		var buf [1024]byte
		for n := 0; n < unreadMax; {
			m, err := tc.Read(buf[:])
			if err != nil {
				break
			}
			n += m
		}
	}
	c.Close()
}

// unreadLinger and unreadMax bound closeUnread: net/http's own delay, and a request head.
const (
	unreadLinger = 500 * time.Millisecond
	unreadMax    = 64 << 10
)

// refuse answers a connection refused before the 200, with a one-line reason.
func (ss *session) refuse(ev *events.Event, status int, reason allowlist.Reason, msg string) {
	ss.finish(ev, outcome{action: events.ActionDeny, reason: reason, status: status, msg: msg})
}

// fail answers a connection the policy allowed but the proxy could not carry out. The client
// gets a fixed line for the reason: the error's text (the resolved address, the resolver's
// address, the proxy's network state) goes to the operational log, and the event carries the
// facts.
func (ss *session) fail(ev *events.Event, d allowlist.Decision, status int, reason allowlist.Reason, err error) {
	ss.finish(ev, outcome{action: actionOf(d.Action), reason: reason, status: status,
		msg: reason.String() + ": " + failText[reason], err: err})
}

// reject closes a connection refused after the 200 (or, intercepted, before anything was
// dialled): with a TLS alert when the client spoke TLS. origin is nil when nothing was dialled.
func (ss *session) reject(ev *events.Event, origin net.Conn, alert uint8, reason allowlist.Reason, msg string) {
	ss.finish(ev, outcome{action: events.ActionDeny, reason: reason, alert: alert, origin: origin, msg: msg})
}

// abandon ends a flow the policy allowed but that failed after the 200, before the splice:
// both connections are closed.
func (ss *session) abandon(ev *events.Event, d allowlist.Decision, origin net.Conn, reason allowlist.Reason, err error) {
	ss.finish(ev, outcome{action: actionOf(d.Action), reason: reason, origin: origin, err: err})
}

// failText is the line a client reads when an allowed connection could not be carried out.
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

// refused fills in the event of a refusal (action deny) or failure (the allowed action that
// failed) with its reason and status (0: none), counts it and emits it. It is the part of
// finishing a refusal that every path shares: finish for connections, the plain-HTTP
// request's answer, and (through RefusalSink) the PAC file's handler.
func (s *Server) refused(ev *events.Event, action events.Action, reason allowlist.Reason, status int) {
	ev.Action, ev.Reason = action, reason.String()
	if status != 0 {
		ev.StatusCode = status
	}
	s.emitRefusal(ev)
}

// emitRefusal counts a refusal's or failure's event, whose action and reason are set, and
// emits it.
func (s *Server) emitRefusal(ev *events.Event) {
	ev.Outcome = events.OutcomeFailure
	if ev.Action == events.ActionDeny {
		s.metrics.Denied.Add(1)
	} else {
		s.metrics.Failed.Add(1)
	}
	s.emit(ev)
}

// RefusalSink is where a handler mounted on the proxy's listeners (the PAC file's) sends the
// events of its refusals, with action and reason set: they are counted and emitted like the
// proxy's own.
func (s *Server) RefusalSink() interface{ Emit(*events.Event) } { return refusalSink{s} }

type refusalSink struct{ s *Server }

func (r refusalSink) Emit(ev *events.Event) { r.s.emitRefusal(ev) }
