package proxy

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/proxy/clienthello"
)

// awaitServer sends the checked ClientHello to the origin and keeps the connection in set-up
// until the server's first handshake record is there. An ordinary answer is passed on and the
// tunnel spliced. A TLS 1.3 HelloRetryRequest makes the client send a second, still plaintext
// ClientHello: it is read with the same reader, limits and time-out as the first and must name
// the same server, or a client could name an allowed host first and another in the retry,
// which a server that does not insist on an identical retry (OpenSSL) would serve. In report
// mode that refusal, a policy's, is let through like the others: *d becomes the allow it was
// turned into, the event says what enforce would have done, and the session records that the
// retry named another server (a reload to enforce ends such a tunnel).
//
// The wait runs on the set-up goroutine, bounded by timeouts.connect. From the client nothing
// is read beyond what the decision needs; from the server, what its first reads return (the
// rest of its first flight, usually) is passed on to the client in one write with the
// ServerHello, which saves the splice a system call and a TCP segment each way. It returns the client bytes still to replay to
// the origin (the second hello and what came before it), and the byte counts already moved
// each way. On a refusal or failure it has finished the session and reports false.
func (ss *session) awaitServer(ev *events.Event, q allowlist.Query, d *allowlist.Decision, origin net.Conn,
	hello []byte) (replay []byte, up, down int64, ok bool) {
	if err := writeBounded(origin, hello, ss.set.Timeouts.Connect); err != nil {
		ss.abandon(ev, *d, origin, allowlist.ReasonServerHelloFailed, err)
		return nil, 0, 0, false
	}
	up = int64(len(hello))

	max := ss.set.Limits.MaxHelloBytes
	// The deadline stays when the read is done: the tunnel's pump sets its own before it waits.
	origin.SetReadDeadline(time.Now().Add(ss.set.Timeouts.Connect))
	retry, answer, err := clienthello.ReadServerStart(origin, hello[:0], max)
	switch {
	case err == nil:
	case !retry && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		// The server closed without a HelloRetryRequest: pass on what it sent, and the
		// splice carries the close.
	case isTimeout(err):
		ss.abandon(ev, *d, origin, allowlist.ReasonServerHelloTimeout, err)
		return nil, 0, 0, false
	default:
		ss.abandon(ev, *d, origin, allowlist.ReasonServerHelloFailed, err)
		return nil, 0, 0, false
	}
	if len(answer) > 0 {
		if err := writeBounded(ss.conn, answer, ss.set.Timeouts.Connect); err != nil {
			ss.abandon(ev, *d, origin, allowlist.ReasonClientClosed, err)
			return nil, 0, 0, false
		}
	}
	down = int64(len(answer))
	if !retry {
		return answer[:0], up, down, true
	}

	ss.lr.N = int64(max)
	ss.conn.SetReadDeadline(time.Now().Add(ss.set.Timeouts.Hello))
	info, raw, err := clienthello.ReadRetry(ss.br, answer[:0], max)
	if err != nil {
		ss.refuseHello(ev, origin, err)
		return nil, 0, 0, false
	}
	ev.ECH = ev.ECH || info.ECH
	name := ""
	if info.ServerName != "" {
		if name, err = allowlist.NormalizeName(info.ServerName); err != nil {
			ev.SNI = info.ServerName
			ss.reject(ev, origin, clienthello.AlertUnrecognizedName, allowlist.ReasonBadSNI, err.Error())
			return nil, 0, 0, false
		}
	}
	if name != q.SNI {
		ev.SNI = name // the event names the server the retry asked for
		if ss.set.Policy.Report() {
			// A refusal by policy, which report mode lets through like the first hello's. The
			// address is the one the first decision admitted (deny_cidrs included), so
			// nothing else is checked again. A first hello already let through by report mode
			// keeps its decision and the enforce verdict it recorded, which came first.
			if ev.EnforceAction == "" {
				ev.EnforceAction, ev.EnforceReason = events.ActionDeny, allowlist.ReasonSNIMismatch.String()
				*d = allowlist.Decision{Action: allowlist.Allow, Reason: allowlist.ReasonSNIMismatch}
			}
			ss.retryOther = true
			return raw, up, down, true
		}
		ss.reject(ev, origin, clienthello.AlertUnrecognizedName, allowlist.ReasonSNIMismatch,
			"the second ClientHello (after a HelloRetryRequest) names another server than the first")
		return nil, 0, 0, false
	}
	return raw, up, down, true
}

// refuseHello closes a connection whose ClientHello could not be read whole and well formed.
func (ss *session) refuseHello(ev *events.Event, origin net.Conn, err error) {
	switch {
	case isTimeout(err):
		ss.reject(ev, origin, 0, allowlist.ReasonHelloTimeout, "no whole ClientHello within timeouts.hello")
	case errors.Is(err, clienthello.ErrTooLarge):
		ss.reject(ev, origin, clienthello.AlertDecodeError, allowlist.ReasonHelloTooLarge, err.Error())
	case errors.Is(err, clienthello.ErrMalformed), errors.Is(err, clienthello.ErrNotTLS):
		ss.reject(ev, origin, clienthello.AlertDecodeError, allowlist.ReasonBadHello, err.Error())
	default:
		ss.reject(ev, origin, 0, allowlist.ReasonClientClosed, err.Error())
	}
}
