package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mdmproxy/mdmproxy/events"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// EventSink receives decision and end events. *events.Logger is one.
type EventSink interface {
	Emit(e *events.Event)
}

// Server is the proxy. The zero value is ready once Update has given it Settings.
type Server struct {
	// Events receives one decision event per connection and one end event per tunnel. Nil
	// discards them.
	Events EventSink
	// Log is the operational log (accept errors, panics). The zero Logger discards.
	Log zerolog.Logger
	// Lookup resolves names that the static hosts do not hold. Nil means DNS.
	Lookup LookupFunc
	// LookupTTL resolves the SNI of an intercepted flow and says how long its answers may be
	// kept (transparent interception). Nil means Lookup with answers not kept, and without
	// Lookup the name servers of /etc/resolv.conf.
	LookupTTL TTLLookupFunc
	// OwnAddrs are addresses of mdmproxy's other listeners (admin, PAC) that an intercepted flow
	// must never be sent to. The server's own listeners count without being listed.
	OwnAddrs []netip.AddrPort
	// Dial opens the connection to the destination. Nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// NonProxy serves requests that are not proxy requests (origin-form, e.g. GET /proxy.pac).
	// Nil answers 404.
	NonProxy http.Handler

	settings atomic.Pointer[Settings]
	metrics  Metrics
	slots    slots // limits.max_tunnels and max_tunnels_per_client
	metricsState
	revokeState
	answers answerCache // what DNS answered for intercepted flows' SNIs, within their TTL

	mu             sync.Mutex
	listeners      map[net.Listener]struct{}
	tunnels        map[*tunnel]struct{}
	cut            bool         // Shutdown's grace ended: no more tunnels
	pending        atomic.Int64 // connections in their set-up phase (before splice or refusal)
	closing        atomic.Bool
	plainOnce      sync.Once
	transportsOnce sync.Once
	plainTr        *plainTransports
	plain          atomic.Pointer[plainServer]
	parkOnce       sync.Once
	park           atomic.Pointer[parker] // idle pumps without goroutines; nil until the first park
	parkAfter      time.Duration          // tests: park sooner than parkAfter
}

// Update installs a new settings snapshot for connections accepted from now on. When the
// policy changed, it then decides the open tunnels again and ends those the new policy refuses
// (reason policy_revoked; see revoke.go): it returns when they are told to end.
func (s *Server) Update(set *Settings) {
	cp := *set
	cp.Timeouts = set.Timeouts.withDefaults()
	cp.Limits = set.Limits.withDefaults()
	old := s.settings.Load()
	if old != nil && old.Policy == cp.Policy {
		cp.policyGen = old.policyGen
	} else {
		cp.policyGen = s.policyGen.Add(1)
	}
	s.settings.Store(&cp)
	if old != nil && old.policyGen != cp.policyGen {
		s.revoke(cp.Policy, cp.policyGen)
	}
}

// Metrics returns the server's counters.
func (s *Server) Metrics() *Metrics { return &s.metrics }

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("proxy: server closed")

// Serve accepts connections on ln until Shutdown. It returns ErrServerClosed after Shutdown
// and the accept error otherwise.
func (s *Server) Serve(ln net.Listener) error {
	return s.serve(ln, s.serveConn)
}

// serve is the accept loop of Serve and ServeTransparent; handle runs each connection on its
// own goroutine.
func (s *Server) serve(ln net.Listener, handle func(net.Conn)) error {
	if s.settings.Load() == nil {
		return errors.New("proxy: Serve called before Update")
	}
	if !s.track(ln) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.untrack(ln)
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporaryAccept(err) {
				// Out of descriptors or a transient failure: back off instead of spinning, and
				// keep the tunnels we have.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.Log.Error().Err(err).Dur("retry_in", backoff).Msg("accept failed")
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.pending.Add(1)
		s.metrics.Connections.Add(1)
		go handle(c)
	}
}

// drain stops the plain-HTTP server taking connections and waits for the requests in flight
// to finish; when ctx ends first, it closes them. It closes done when it returns.
func (p *plainServer) drain(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	p.Close()
	if p.http.Shutdown(ctx) != nil {
		p.http.Close()
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (s *Server) track(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) untrack(ln net.Listener) {
	s.mu.Lock()
	delete(s.listeners, ln)
	s.mu.Unlock()
}

// addTunnel registers a tunnel; it refuses once Shutdown's grace has ended.
func (s *Server) addTunnel(t *tunnel) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cut {
		return false
	}
	if s.tunnels == nil {
		s.tunnels = make(map[*tunnel]struct{})
	}
	s.tunnels[t] = struct{}{}
	s.metrics.TunnelsOpen.Add(1)
	return true
}

func (s *Server) removeTunnel(t *tunnel) {
	if t.holdsSlot {
		s.slots.give(t.facts.sourceIP)
	}
	s.mu.Lock()
	delete(s.tunnels, t)
	// In the same critical section as the delete: a scrape sees these bytes exactly once.
	if s.ended == nil {
		s.ended = make(map[string]endedBytes)
	}
	b := s.ended[t.facts.rule]
	b.up += t.up.Load()
	b.down += t.down.Load()
	s.ended[t.facts.rule] = b
	s.mu.Unlock()
	s.metrics.TunnelsOpen.Add(-1)
}

// OpenTunnels is the number of spliced tunnels now open.
func (s *Server) OpenTunnels() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tunnels)
}

// Shutdown stops accepting, lets connections being set up finish, plain-HTTP requests in flight
// complete and open tunnels drain until ctx ends, then closes what is left. It returns
// ctx.Err() if tunnels or requests had to be cut.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	plainDrained := make(chan struct{})
	if p := s.plain.Load(); p != nil {
		go p.drain(ctx, plainDrained)
	} else {
		close(plainDrained)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n := len(s.tunnels)
		s.mu.Unlock()
		if n == 0 && s.pending.Load() == 0 && isClosed(plainDrained) {
			return nil
		}
		select {
		case <-ctx.Done():
			<-plainDrained // drain closes what is left of the plain requests when ctx ends
			// Abort outside the lock: an abort may end a tunnel at once, which takes the lock.
			s.mu.Lock()
			s.cut = true
			open := make([]*tunnel, 0, len(s.tunnels))
			for t := range s.tunnels {
				open = append(open, t)
			}
			s.mu.Unlock()
			for _, t := range open {
				t.abort(allowlist.ReasonShutdown)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}
