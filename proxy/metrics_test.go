package proxy

import (
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mdmproxy/mdmproxy/events"
)

// addFakeTunnels registers n tunnels spread over rules, each having moved 10 bytes up and 20
// down, without connections: the collector reads only the registry and the counters.
func addFakeTunnels(s *Server, n, rules int) []*tunnel {
	ts := make([]*tunnel, n)
	for i := range ts {
		t := &tunnel{srv: s, facts: factsOf(&events.Event{Rule: "rule-" + strconv.Itoa(i%rules)})}
		t.up.Store(10)
		t.down.Store(20)
		s.addTunnel(t)
		ts[i] = t
	}
	return ts
}

func collect(t testing.TB, c prometheus.Collector) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1024)
	go func() { c.Collect(ch); close(ch) }()
	got := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		// Desc.String starts: Desc{fqName: "name", ...; labels come sorted by name.
		key, _, _ := strings.Cut(strings.TrimPrefix(m.Desc().String(), `Desc{fqName: "`), `"`)
		for _, l := range pb.Label {
			key += "," + l.GetValue()
		}
		if pb.Counter != nil {
			got[key] = pb.Counter.GetValue()
		} else {
			got[key] = pb.Gauge.GetValue()
		}
	}
	return got
}

// TestTunnelCollector: open tunnels and bytes by rule add the open tunnels' counters to what
// ended tunnels moved, so the byte counters never go back when a tunnel ends.
func TestTunnelCollector(t *testing.T) {
	s := &Server{}
	ts := addFakeTunnels(s, 4, 2) // rule-0: 2 tunnels, rule-1: 2 tunnels
	got := collect(t, tunnelCollector{s})
	if got["mdmproxy_rule_tunnels_open,rule-0"] != 2 || got["mdmproxy_tunnel_bytes_total,source,rule-0"] != 20 ||
		got["mdmproxy_tunnel_bytes_total,destination,rule-1"] != 40 {
		t.Fatalf("with 4 open tunnels: %v", got)
	}
	ts[0].up.Add(5) // bytes move while the tunnel is open
	s.removeTunnel(ts[0])
	s.removeTunnel(ts[2])
	got = collect(t, tunnelCollector{s})
	if got["mdmproxy_rule_tunnels_open,rule-0"] != 0 || got["mdmproxy_tunnel_bytes_total,source,rule-0"] != 25 ||
		got["mdmproxy_tunnel_bytes_total,destination,rule-0"] != 40 || got["mdmproxy_rule_tunnels_open,rule-1"] != 2 {
		t.Fatalf("after both rule-0 tunnels ended: %v", got)
	}
}

// BenchmarkScrapeTunnels is the cost of one /metrics read of open tunnels and bytes by rule
// with 10,000 open tunnels over 20 rules; it holds the tunnel registry's lock that long.
func BenchmarkScrapeTunnels(b *testing.B) {
	s := &Server{}
	addFakeTunnels(s, 10_000, 20)
	c := tunnelCollector{s}
	ch := make(chan prometheus.Metric, 64)
	b.ReportAllocs()
	for b.Loop() {
		go func() { c.Collect(ch); close(ch) }()
		for range ch {
		}
		ch = make(chan prometheus.Metric, 64)
	}
}

// BenchmarkObserveDecision is what counting a decision adds to each set-up.
func BenchmarkObserveDecision(b *testing.B) {
	s := &Server{}
	ev := &events.Event{Action: events.ActionSplice, Rule: "apple-push", Reason: "allowed"}
	b.ReportAllocs()
	for b.Loop() {
		s.observe(ev)
	}
}

// TestObserveCountsByLabels: decisions and ends land on the counters their labels name, through
// the cache of labelled counters, and an end's reason never counts as a decision's.
func TestObserveCountsByLabels(t *testing.T) {
	s := &Server{}
	for range 3 {
		s.observe(&events.Event{Action: events.ActionSplice, Rule: "apple", Reason: "allowed"})
	}
	s.observe(&events.Event{Action: events.ActionSplice, Rule: "google", Reason: "allowed"})
	s.observe(&events.Event{Action: events.ActionDeny, Reason: "eof"})
	for range 2 {
		s.observe(&events.Event{Action: events.ActionEnd, Reason: "eof"})
	}
	s.observe(&events.Event{Action: events.ActionEnd, Reason: "eof", Method: "GET"}) // a plain request's: not a tunnel's
	got := collect(t, s.obs().decisions)
	want := map[string]float64{
		"mdmproxy_decisions_total,splice,allowed,apple":  3, // labels sorted by name: action, reason, rule
		"mdmproxy_decisions_total,splice,allowed,google": 1,
		"mdmproxy_decisions_total,deny,eof,":             1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("decisions %v, want %v", got, want)
	}
	ends := collect(t, s.obs().ends)
	if ends["mdmproxy_tunnel_ends_total,eof"] != 2 {
		t.Errorf("ends %v, want eof 2", ends)
	}
}
