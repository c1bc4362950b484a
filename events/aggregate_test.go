package events

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestAggregateDenials: identical denials within the window leave as one
// event with the count and the first and last time; a different reason,
// client or target is its own event; allowed flows are never held back or
// merged.
func TestAggregateDenials(t *testing.T) {
	var out lockedBuffer
	l := testLogger(t, Config{Aggregate: time.Hour}, &out) // the window closes at Close
	client := netip.MustParseAddr("10.0.0.7")
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range 50 {
		l.Emit(&Event{Time: t0.Add(time.Duration(i) * time.Second), Action: ActionDeny, Reason: "no_rule",
			SourceIP: client, SourcePort: uint16(40000 + i), DestDomain: "evil.example", DestPort: 443})
	}
	l.Emit(&Event{Time: t0, Action: ActionDeny, Reason: "port_not_allowed", SourceIP: client, DestDomain: "evil.example", DestPort: 443})
	l.Emit(&Event{Time: t0, Action: ActionDeny, Reason: "no_rule", SourceIP: netip.MustParseAddr("10.0.0.8"), DestDomain: "evil.example", DestPort: 443})
	for range 3 {
		l.Emit(&Event{Time: t0, Action: ActionSplice, SourceIP: client, DestDomain: "ok.example", DestPort: 443})
	}
	// Allowed flows are written at once, while the denials wait for their window.
	waitLines := func(n int) {
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(string(out.bytes()), "\n") < n {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %d lines: %q", n, string(out.bytes()))
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitLines(3)
	if s := string(out.bytes()); strings.Contains(s, "deny") || strings.Count(s, `"splice"`) != 3 {
		t.Fatalf("before the window closed: %q", s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out.bytes()), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 3 splices and 3 denials:\n%s", len(lines), string(out.bytes()))
	}
	var agg []string
	for _, line := range lines {
		if strings.Contains(line, `"aggregate"`) {
			agg = append(agg, line)
		}
	}
	if len(agg) != 1 || !strings.Contains(agg[0], `"aggregate":{"count":50,"first":"2026-11-30T12:00:00.000000000Z","last":"2026-11-30T12:00:49.000000000Z"}`) ||
		!strings.Contains(agg[0], `"port":40000`) {
		t.Errorf("aggregated event: %q", agg)
	}
}

// TestAggregateWindowCloses: a window closes by itself, without Close.
func TestAggregateWindowCloses(t *testing.T) {
	var out lockedBuffer
	l := testLogger(t, Config{Aggregate: 20 * time.Millisecond}, &out)
	defer l.Close()
	for range 3 {
		l.Emit(&Event{Action: ActionDeny, Reason: "no_rule", DestDomain: "a.example"})
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(string(out.bytes()), `"count":3`) {
		if time.Now().After(deadline) {
			t.Fatalf("window never closed: %q", string(out.bytes()))
		}
		time.Sleep(time.Millisecond)
	}
}
