package proxy

import (
	"net/http"
	"net/netip"
	"sync"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// slots counts what limits.max_tunnels and limits.max_tunnels_per_client bound: tunnels open
// and set-ups in progress, in all and per client address. A slot is taken before anything is
// resolved or dialled and given back exactly once, when the set-up fails or the tunnel ends.
// The zero value is ready.
type slots struct {
	mu        sync.Mutex
	total     int
	perClient map[netip.Addr]int
}

// take reserves a slot for client under the limits (0: unlimited). When a limit is reached it
// reserves nothing and returns the reason and the status the client is answered with.
func (s *slots) take(client netip.Addr, l Limits) (ok bool, reason allowlist.Reason, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.MaxTunnelsPerClient > 0 && s.perClient[client] >= l.MaxTunnelsPerClient {
		return false, allowlist.ReasonTooManyClientTunnels, http.StatusTooManyRequests
	}
	if l.MaxTunnels > 0 && s.total >= l.MaxTunnels {
		return false, allowlist.ReasonTooManyTunnels, http.StatusServiceUnavailable
	}
	if s.perClient == nil {
		s.perClient = make(map[netip.Addr]int)
	}
	s.total++
	s.perClient[client]++
	return true, 0, 0
}

// give returns a slot taken for client.
func (s *slots) give(client netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if n := s.perClient[client] - 1; n > 0 {
		s.perClient[client] = n
	} else {
		delete(s.perClient, client)
	}
}

// count returns the slots held in all and by client.
func (s *slots) count(client netip.Addr) (total, byClient int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total, s.perClient[client]
}
