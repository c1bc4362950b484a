package proxy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/events"
)

// registered puts tunnels into s's registry as start would, without sockets or pumps.
func registered(s *Server, ts ...*tunnel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tunnels == nil {
		s.tunnels = make(map[*tunnel]struct{})
	}
	for _, t := range ts {
		s.tunnels[t] = struct{}{}
	}
}

func TestTunnelsSnapshot(t *testing.T) {
	started := time.Now().Add(-time.Minute)
	client := netip.MustParseAddr("127.0.0.2")
	byName := &tunnel{persistent: true, started: started, facts: factsOf(&events.Event{SourceIP: client, DestDomain: "courier.push.apple.com", DestIP: netip.MustParseAddr("17.57.146.20"), DestPort: 5223, Rule: "apple-push/courier"})}
	byName.up.Store(10)
	byName.down.Store(20)
	byV6 := &tunnel{started: started, facts: factsOf(&events.Event{SourceIP: client, DestIP: netip.MustParseAddr("2620:149:a44::1"), DestPort: 443})}
	var s Server
	registered(&s, byName, byV6)

	got := map[string]TunnelInfo{}
	s.Tunnels(func(ti TunnelInfo) { got[ti.Destination] = ti })
	want := map[string]TunnelInfo{
		"courier.push.apple.com:5223": {Client: client, Rule: "apple-push/courier", Persistent: true, Destination: "courier.push.apple.com:5223", Started: started, SourceBytes: 10, DestBytes: 20},
		"[2620:149:a44::1]:443":       {Client: client, Destination: "[2620:149:a44::1]:443", Started: started},
	}
	if len(got) != len(want) {
		t.Fatalf("Tunnels gave %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %+v, want %+v", k, got[k], w)
		}
	}
}

// BenchmarkTunnels10k reads a registry of 10,000 open tunnels, as the status page does per
// request. The registry's lock, which tunnels being set up and ended also take, is held only
// while the pointers are copied.
func BenchmarkTunnels10k(b *testing.B) {
	var s Server
	for i := range 10000 {
		registered(&s, &tunnel{persistent: true, started: time.Now(), facts: factsOf(&events.Event{
			SourceIP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), DestDomain: "courier.push.apple.com", DestPort: 5223, Rule: "apple-push/courier"})})
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		s.Tunnels(func(TunnelInfo) { n++ })
	}
	// The lock's share: copying the pointers alone, the slowest of 20 copies.
	var worst time.Duration
	for range 20 {
		start := time.Now()
		s.mu.Lock()
		open := make([]*tunnel, 0, len(s.tunnels))
		for t := range s.tunnels {
			open = append(open, t)
		}
		s.mu.Unlock()
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst.Microseconds()), "lock-µs")
}
