package proxy

import (
	"net"
	"net/netip"
	"strconv"
	"time"
)

// TunnelInfo describes one open tunnel at the moment Tunnels was called.
type TunnelInfo struct {
	Client      netip.Addr
	Rule        string // the rule that allowed it; "" for default_action allow
	Persistent  bool
	Destination string // host:port as the client asked for it (the address when it named none)
	Started     time.Time
	SourceBytes int64 // client to destination, so far
	DestBytes   int64 // destination to client, so far
}

// Tunnels calls fn for each open tunnel. It holds the registry's lock only to copy the
// tunnels' pointers, so a status page with thousands of tunnels does not hold up tunnels being
// set up or ended; it is meant for requests of people and scripts, never for the data path.
func (s *Server) Tunnels(fn func(TunnelInfo)) {
	s.mu.Lock()
	open := make([]*tunnel, 0, len(s.tunnels))
	for t := range s.tunnels {
		open = append(open, t)
	}
	s.mu.Unlock()
	for _, t := range open {
		fn(t.info())
	}
}

// info is the tunnel's TunnelInfo. Its facts are not changed once the tunnel started.
func (t *tunnel) info() TunnelInfo {
	f := &t.facts
	host := f.destDomain
	if host == "" && f.destIP.IsValid() {
		host = f.destIP.String()
	}
	return TunnelInfo{
		Client: f.sourceIP, Rule: f.rule, Persistent: t.persistent,
		Destination: net.JoinHostPort(host, strconv.Itoa(int(f.destPort))),
		Started:     t.started, SourceBytes: t.up.Load(), DestBytes: t.down.Load(),
	}
}
