package proxy

import (
	"fmt"
	"runtime/debug"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// A panic in one connection's goroutine must not take every tunnel down with the process: each
// connection goroutine and each pump recovers, logs the panic with its stack on the
// operational log, and ends only its own connection.

// logPanic writes a recovered panic to the operational log.
func (s *Server) logPanic(where string, v any) {
	s.metrics.Panics.Add(1)
	s.Log.Error().Str("panic", fmt.Sprint(v)).Bytes("stack", debug.Stack()).Msg(where + " panicked; its connection was closed")
}

// recoverSession is deferred by serveConn and serveIntercepted: a panic during the set-up ends this connection
// with an internal_error event.
func (ss *session) recoverSession() {
	v := recover()
	if v == nil {
		return
	}
	ss.srv.logPanic("connection set-up", v)
	ev := ss.event(events.ActionDeny)
	ev.Outcome = events.OutcomeFailure
	ev.Reason = allowlist.ReasonInternalError.String()
	ss.srv.emit(ev)
	ss.conn.Close()
}

// recoverCopy is deferred by a copy pump, after its pumpDone: a panic aborts the tunnel.
func recoverCopy(t *tunnel) {
	if v := recover(); v != nil {
		t.srv.logPanic("tunnel pump", v)
		t.abort(allowlist.ReasonRelayFailed)
	}
}
