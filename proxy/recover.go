package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
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

// recoverSession is deferred by serveConn and serveIntercepted: a panic during the set-up ends this connection,
// and the one dialled for it if any, with an internal_error event.
func (ss *session) recoverSession() {
	v := recover()
	if v == nil {
		return
	}
	ss.srv.logPanic("connection set-up", v)
	ss.srv.refused(ss.event(events.ActionDeny), events.ActionDeny, allowlist.ReasonInternalError, 0)
	ss.conn.Close()
	if ss.origin != nil {
		ss.origin.Close()
	}
}

// recoverPlain wraps the plain-HTTP handler: a panic is logged and counted like any other,
// and the request's connection is closed, then dropped by net/http (http.ErrAbortHandler,
// which it neither logs nor answers). The close comes first: net/http waits for its pending
// read of the connection, which only the close ends (plainConn ignores read deadlines).
func (s *Server) recoverPlain(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler { // net/http's own way to drop a connection: as is
					s.logPanic("plain-HTTP request", v)
				}
				if c, ok := r.Context().Value(plainConnKey{}).(net.Conn); ok {
					c.Close()
				}
				panic(http.ErrAbortHandler)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

type plainConnKey struct{}

// plainConnContext is the plain-HTTP server's ConnContext: the balancer for the events, and
// the connection for recoverPlain.
func plainConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(withBalancer(ctx, c), plainConnKey{}, c)
}

// recoverCopy is deferred by a copy pump, after its pumpDone: a panic aborts the tunnel.
func recoverCopy(t *tunnel) {
	if v := recover(); v != nil {
		t.srv.logPanic("tunnel pump", v)
		t.abort(allowlist.ReasonRelayFailed)
	}
}
