package proxy

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// KeepAlive is set on both legs of every tunnel that goes quiet: on the client's by Listen, at
// accept (on Linux; elsewhere with the origin's), and on the origin's when a pump first parks
// or a copy pump starts (tunnel.keepAlive). It finds dead peers of persistent tunnels, which
// have no idle time-out, within about two minutes.
var KeepAlive = net.KeepAliveConfig{Enable: true, Idle: 60 * time.Second, Interval: 15 * time.Second, Count: 4}

// Listen opens a proxy listener whose connections have KeepAlive. The options are set once, on
// the listening socket, which Linux copies to every accepted socket; Go's own per-accept
// keepalive calls (four setsockopts per connection) are turned off.
func Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1, Control: setKeepAlive}
	return lc.Listen(ctx, network, addr)
}

// tunnel is a spliced connection pair. Two pumps move bytes, one per direction; whichever
// finishes last closes both connections and emits the end event.
type tunnel struct {
	srv            *Server
	client, origin net.Conn
	persistent     bool
	holdsSlot      bool // holds its client's limits slot (facts.sourceIP); beside persistent, in its padding
	idle, halfShut time.Duration
	facts          tunnelFacts // of the decision event, which the end event repeats; not changed once started
	started        time.Time

	up, down     atomic.Int64 // bytes client->origin (source.bytes), origin->client (destination.bytes)
	lastActive   atomic.Int64 // unix nanoseconds of the last byte moved either way
	halfClosedAt atomic.Int64 // unix nanoseconds when the first side finished sending; 0 before
	pumpsDone    atomic.Int32
	keptAlive    atomic.Bool                      // keepAlive has run
	endReason    atomic.Pointer[allowlist.Reason] // the first reason to end wins
	pumps        [2]parkable                      // the splice pumps, which abort must finish when parked
	query        allowlist.Query                  // what its last decision was asked; a reload asks again
	helloChecked bool                             // its first bytes were a ClientHello the policy checked
	retryOther   bool                             // its client's retry named another server (report mode let it through)
	policyGen    atomic.Uint64                    // the generation of the policy that last allowed it; 0: never re-decided
}

// parkable is a pump that may be parked without a goroutine (see parker).
type parkable interface{ unpark() }

func newTunnel(srv *Server, client, origin net.Conn, rule *allowlist.Rule, to Timeouts, decision *events.Event, started time.Time, replayed int64) *tunnel {
	t := &tunnel{srv: srv, client: client, origin: origin, idle: to.Idle, halfShut: to.HalfClose, facts: factsOf(decision), started: started}
	t.persistent = rule != nil && rule.Persistent
	t.up.Store(replayed)
	t.touch()
	return t
}

// start registers the tunnel and starts its two pumps. It reports false, having closed both
// connections, when the server is past its shutdown grace and takes no more tunnels.
func (t *tunnel) start() bool {
	run := newPumps(t)
	if !t.srv.addTunnel(t) {
		t.client.Close()
		t.origin.Close()
		return false
	}
	run()
	t.revokeLate()
	return true
}

func (t *tunnel) touch() { t.lastActive.Store(time.Now().UnixNano()) }

// keepAlive turns on KeepAlive for the origin's connection (and the client's, where it was not
// inherited from the listener), once, when the tunnel first goes quiet. Keepalive probes only
// after KeepAlive.Idle of silence, so a tunnel that never parks loses nothing by not having it,
// and the short tunnels are spared four system calls each.
func (t *tunnel) keepAlive() {
	if !t.keptAlive.CompareAndSwap(false, true) {
		return
	}
	if tc, ok := t.origin.(*net.TCPConn); ok {
		tc.SetKeepAliveConfig(KeepAlive)
	}
	if tc, ok := t.client.(*net.TCPConn); ok && !keepAliveInherited {
		tc.SetKeepAliveConfig(KeepAlive)
	}
}

// readDeadline is when a pump waiting for bytes should give up and look at the clock: the idle
// time-out (none for persistent tunnels), or the half-close time-out once one side finished.
func (t *tunnel) readDeadline() time.Time {
	var dl int64
	if !t.persistent {
		dl = t.lastActive.Load() + int64(t.idle)
	}
	if hc := t.halfClosedAt.Load(); hc != 0 {
		if h := hc + int64(t.halfShut); dl == 0 || h < dl {
			dl = h
		}
	}
	if dl == 0 {
		return time.Time{}
	}
	return time.Unix(0, dl)
}

// writeDeadline bounds how long a pump waits for a peer that takes no bytes at all. Persistent
// tunnels get it too: a push connection may be silent for hours, but a peer that stops reading
// would otherwise hold a pipe or a buffer for ever (keepalive does not probe while data waits).
func (t *tunnel) writeDeadline() time.Time {
	return time.Now().Add(t.idle)
}

// expired is called when a pump's deadline passed; it reports whether the tunnel must end and
// why. A deadline can pass while the other direction is busy: then the pump waits again.
func (t *tunnel) expired() (allowlist.Reason, bool) {
	now := time.Now().UnixNano()
	if hc := t.halfClosedAt.Load(); hc != 0 && now >= hc+int64(t.halfShut) {
		return allowlist.ReasonHalfCloseTimeout, true
	}
	if !t.persistent && now >= t.lastActive.Load()+int64(t.idle) {
		return allowlist.ReasonIdleTimeout, true
	}
	return 0, false
}

// halfClosed records that src finished sending (dst was shut for writing) and wakes the other
// pump so that it waits no longer than the half-close time-out.
func (t *tunnel) halfClosed(other net.Conn) {
	t.halfClosedAt.CompareAndSwap(0, time.Now().UnixNano())
	other.SetReadDeadline(t.readDeadline())
}

// abort ends the tunnel now: both connections are closed, which wakes both pumps. A reset is
// passed on as a reset (linger 0), so each peer learns the other failed. The first reason
// wins; abort reports whether it was this call's.
func (t *tunnel) abort(reason allowlist.Reason) bool {
	if !t.endReason.CompareAndSwap(nil, &reason) {
		return false
	}
	if reason == allowlist.ReasonReset {
		for _, c := range []net.Conn{t.client, t.origin} {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
		}
	}
	t.client.Close()
	t.origin.Close()
	for _, p := range t.pumps {
		if p != nil {
			p.unpark()
		}
	}
	return true
}

// pumpDone is called by each pump as it returns; the second one ends the tunnel.
func (t *tunnel) pumpDone() {
	if t.pumpsDone.Add(1) < 2 {
		return
	}
	eof := allowlist.ReasonEOF
	t.endReason.CompareAndSwap(nil, &eof)
	t.client.Close()
	t.origin.Close()

	decision := t.facts.event()
	end := endEvent(&decision, *t.endReason.Load(), t.started, t.up.Load(), t.down.Load())
	t.srv.metrics.BytesUp.Add(end.SourceBytes)
	t.srv.metrics.BytesDown.Add(end.DestBytes)
	t.srv.emit(end)
	// Only now is the tunnel gone: a shutdown that waits for no open tunnels must not close
	// the event stream before this tunnel's end event is in it.
	t.srv.removeTunnel(t)
}
