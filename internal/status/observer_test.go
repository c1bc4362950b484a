package status

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/events"
)

var (
	clientA = netip.MustParseAddr("127.0.0.2")
	clientB = netip.MustParseAddr("127.0.0.3")
)

func deny(client netip.Addr, host string, port uint16, reason string) *events.Event {
	return &events.Event{Action: events.ActionDeny, Reason: reason, SourceIP: client, DestDomain: host, DestPort: port}
}

func TestObserver(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	o := newObserver(func() time.Time { return now })
	for _, e := range []*events.Event{
		deny(clientA, "example.com", 443, "no_rule"),
		deny(clientB, "example.com", 443, "no_rule"),
		deny(clientA, "example.com", 443, "no_rule"),
		deny(clientA, "mdm.school.test", 8443, "port_not_allowed"),
		{Action: events.ActionDeny, Reason: "denied_address", SourceIP: clientA, DestIP: netip.MustParseAddr("10.1.2.3"), DestPort: 443},
		{Action: events.ActionAllow, EnforceAction: events.ActionDeny, EnforceReason: "no_rule", SourceIP: clientB, DestDomain: "report.test", DestPort: 443},
		{Action: events.ActionDeny, Reason: "no_rule", SourceIP: clientB, DestDomain: "agg.test", DestPort: 443, Count: 40},
		{Action: events.ActionSplice, Rule: "apple-push/courier", SourceIP: clientA},
		{Action: events.ActionSplice, Rule: "apple-push/courier", SourceIP: clientB},
		{Action: events.ActionSplice, Rule: "apple-push/courier", Outcome: events.OutcomeFailure}, // never established
		{Action: events.ActionAllow, SourceIP: clientB},
		{Action: events.ActionEnd, Rule: "apple-push/courier"},
	} {
		o.Emit(e)
	}
	hour, day, rules := o.report(now.Add(time.Minute))
	want := []string{"agg.test:443 no_rule 40 1", "example.com:443 no_rule 3 2", "10.1.2.3:443 denied_address 1 1", "mdm.school.test:8443 port_not_allowed 1 1", "report.test:443 no_rule 1 1"}
	var got []string
	for _, r := range hour {
		got = append(got, strings.Join([]string{r.Target, r.Reason, strconv.FormatUint(r.Count, 10), strconv.Itoa(r.Tried)}, " "))
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("refusals of the hour:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(day) != len(hour) {
		t.Errorf("%d refusals of the day, %d of the hour", len(day), len(hour))
	}
	if len(rules) != 2 || rules[0] != (RuleHits{"apple-push/courier", 2}) || rules[1] != (RuleHits{defaultActionRule, 1}) {
		t.Errorf("rule hits %+v", rules)
	}
	if o.Dropped() != 0 {
		t.Errorf("%d dropped", o.Dropped())
	}

	// Two hours on, the hour is empty and the day still remembers.
	hour, day, _ = o.report(now.Add(2 * time.Hour))
	if len(hour) != 0 || len(day) != 5 {
		t.Errorf("two hours later: %d refusals of the hour, %d of the day; want 0 and 5", len(hour), len(day))
	}
}

// TestObserverDropsWhenFull: Emit never blocks; what the queue cannot take is counted.
func TestObserverDropsWhenFull(t *testing.T) {
	o := newObserver(time.Now) // not started: nothing drains the queue
	e := deny(clientA, "example.com", 443, "no_rule")
	for range queueSize + 10 {
		o.Emit(e)
	}
	if got := o.Dropped(); got != 10 {
		t.Errorf("dropped %d, want 10", got)
	}
	o.Flush()
	if len(o.queue) != 0 {
		t.Errorf("%d records left after Flush", len(o.queue))
	}
}

// TestObserverRuns: the started observer drains by itself and stops on Close.
func TestObserverRuns(t *testing.T) {
	o := NewObserver()
	o.Emit(deny(clientA, "example.com", 443, "no_rule"))
	o.Close()
	o.Close() // twice is harmless
	hour, _, _ := o.report(time.Now())
	if len(hour) != 1 {
		t.Errorf("after Close: %d refusals, want 1 (Close drains)", len(hour))
	}
}

func TestSuggestion(t *testing.T) {
	ip := netip.MustParseAddr("10.1.2.3")
	for _, tc := range []struct {
		host   string
		port   uint16
		reason string
		addr   netip.Addr
		want   string // "" = no suggestion
	}{
		{"example.com", 443, "no_rule", netip.Addr{}, "rules:\n  - name: allow-example-com-443\n    domains: [\"example.com\"]\n    ports: [443]\n"},
		{"mtalk.example.com", 5228, "port_not_allowed", netip.Addr{}, "    ports: [5228]\n    persistent: true\n"},
		{"mdm.school.test", 443, "denied_address", ip, "    domains: [\"mdm.school.test\"]\n    cidrs: [\"10.1.2.3/32\"]\n    ports: [443]\n"},
		{"10.1.2.3", 443, "denied_address", ip, "    cidrs: [\"10.1.2.3/32\"]\n    ports: [443]\n"},
		{"2001:db8::1", 443, "no_rule", netip.Addr{}, "    cidrs: [\"2001:db8::1/128\"]\n"},
		{"telnet.test", 23, "not_tls", netip.Addr{}, "    tls: optional\n    ports: [23]\n"},
		{"mdm.school.test", 443, "denied_address", netip.Addr{}, ""},
		{"courier.push.apple.com", 443, "sni_mismatch", netip.Addr{}, ""},
		{"x.test", 443, "client_not_allowed", netip.Addr{}, ""},
		{"x.test", 443, "bad_hello", netip.Addr{}, ""},
		{"", 443, "no_rule", netip.Addr{}, ""},
		{"x.test", 0, "no_rule", netip.Addr{}, ""},
	} {
		got := suggestion(refusal{key: refusalKey{tc.host, tc.port, tc.reason}, addr: tc.addr})
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s:%d %s: suggestion\n%s\nwant it to contain\n%s", tc.host, tc.port, tc.reason, got, tc.want)
		}
	}
}
