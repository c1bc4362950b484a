package events_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/events"
)

var testTime = time.Date(2026, 11, 23, 18, 0, 0, 123456789, time.UTC)

// decodeLine parses one record, keeping numbers exact.
func decodeLine(t *testing.T, line []byte) map[string]any {
	t.Helper()
	if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("record is not exactly one line: %q", line)
	}
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("record is not JSON: %v\n%s", err, line)
	}
	return m
}

// flatten turns nested objects into dotted paths, failing on dotted keys:
// the records must nest, never use "a.b" as a key.
func flatten(t *testing.T, m map[string]any, prefix string, into map[string]any) map[string]any {
	t.Helper()
	if into == nil {
		into = map[string]any{}
	}
	for k, v := range m {
		if k != events.FieldTimestamp && strings.Contains(k, ".") {
			t.Errorf("dotted key %q in %q: objects must nest", k, prefix)
		}
		if sub, ok := v.(map[string]any); ok {
			flatten(t, sub, prefix+k+".", into)
			continue
		}
		into[prefix+k] = v
	}
	return into
}

func encodeFlat(t *testing.T, e *events.Event) map[string]any {
	t.Helper()
	line := events.NewJSONEncoder("gw1").AppendEvent(nil, e)
	return flatten(t, decodeLine(t, line), "", nil)
}

func n(s string) json.Number { return json.Number(s) }

// fixed are the fields every record carries.
func fixed(level string) map[string]any {
	return map[string]any{
		events.FieldTimestamp:       "2026-11-23T18:00:00.123456789Z",
		events.FieldECSVersion:      "8.11.0",
		events.FieldLogLevel:        level,
		events.FieldEventKind:       "event",
		events.FieldObserverName:    "gw1",
		events.FieldObserverProduct: "mdmproxy",
		events.FieldObserverVendor:  "mdmproxy",
		events.FieldObserverType:    "proxy",
	}
}

func with(base map[string]any, more map[string]any) map[string]any {
	out := maps.Clone(base)
	maps.Copy(out, more)
	return out
}

func TestJSONShapePerAction(t *testing.T) {
	client := netip.MustParseAddr("10.1.2.3")
	apple := netip.MustParseAddr("17.57.146.20")
	tests := []struct {
		name string
		ev   events.Event
		want map[string]any
	}{
		{
			name: "splice",
			ev: events.Event{
				Time: testTime, Action: events.ActionSplice, Reason: "rule",
				SourceIP: client, SourcePort: 51234,
				DestDomain: "courier.push.apple.com", DestIP: apple, DestPort: 5223,
				SNI: "courier.push.apple.com", Rule: "apple-push",
			},
			want: with(fixed("info"), map[string]any{
				events.FieldState:               "established",
				events.FieldEventCategory:       []any{"network"},
				events.FieldEventType:           []any{"connection", "allowed"},
				events.FieldEventAction:         "splice",
				events.FieldEventOutcome:        "success",
				events.FieldEventReason:         "rule",
				events.FieldSourceIP:            "10.1.2.3",
				events.FieldSourcePort:          n("51234"),
				events.FieldDestinationDomain:   "courier.push.apple.com",
				events.FieldDestinationIP:       "17.57.146.20",
				events.FieldDestinationPort:     n("5223"),
				events.FieldTLSClientServerName: "courier.push.apple.com",
				events.FieldRuleName:            "apple-push",
			}),
		},
		{
			name: "upstream",
			ev: events.Event{
				Time: testTime, Action: events.ActionUpstream, Reason: "default_action",
				SourceIP: client, SourcePort: 40000, DestDomain: "example.org", DestPort: 443,
			},
			want: with(fixed("info"), map[string]any{
				events.FieldState:             "established",
				events.FieldEventCategory:     []any{"network"},
				events.FieldEventType:         []any{"connection", "allowed"},
				events.FieldEventAction:       "upstream",
				events.FieldEventOutcome:      "success",
				events.FieldEventReason:       "default_action",
				events.FieldSourceIP:          "10.1.2.3",
				events.FieldSourcePort:        n("40000"),
				events.FieldDestinationDomain: "example.org",
				events.FieldDestinationPort:   n("443"),
			}),
		},
		{
			name: "allow plain HTTP",
			ev: events.Event{
				Time: testTime, Action: events.ActionAllow, Reason: "default_action",
				SourceIP: client, SourcePort: 40001, DestDomain: "example.org", DestPort: 80,
				URL: "http://example.org/a?b=c", Method: "GET",
			},
			want: with(fixed("info"), map[string]any{
				events.FieldState:             "established",
				events.FieldEventCategory:     []any{"network", "web"},
				events.FieldEventType:         []any{"connection", "allowed"},
				events.FieldEventAction:       "allow",
				events.FieldEventOutcome:      "success",
				events.FieldEventReason:       "default_action",
				events.FieldSourceIP:          "10.1.2.3",
				events.FieldSourcePort:        n("40001"),
				events.FieldDestinationDomain: "example.org",
				events.FieldDestinationPort:   n("80"),
				events.FieldURLOriginal:       "http://example.org/a?b=c",
				events.FieldHTTPRequestMethod: "GET",
			}),
		},
		{
			name: "deny",
			ev: events.Event{
				Time: testTime, Action: events.ActionDeny, Reason: "sni_mismatch: CONNECT a.example, SNI b.example",
				SourceIP: client, SourcePort: 40002, DestDomain: "a.example", DestPort: 443, SNI: "b.example",
			},
			want: with(fixed("warn"), map[string]any{
				events.FieldState:               "refused",
				events.FieldEventCategory:       []any{"network"},
				events.FieldEventType:           []any{"connection", "denied"},
				events.FieldEventAction:         "deny",
				events.FieldEventOutcome:        "failure",
				events.FieldEventReason:         "sni_mismatch: CONNECT a.example, SNI b.example",
				events.FieldSourceIP:            "10.1.2.3",
				events.FieldSourcePort:          n("40002"),
				events.FieldDestinationDomain:   "a.example",
				events.FieldDestinationPort:     n("443"),
				events.FieldTLSClientServerName: "b.example",
			}),
		},
		{
			name: "end",
			ev: events.Event{
				Time: testTime, Action: events.ActionEnd, Reason: "client_closed",
				Duration: 3*time.Hour + 1, SourceIP: client, SourcePort: 51234,
				DestDomain: "courier.push.apple.com", DestIP: apple, DestPort: 5223,
				Rule: "apple-push", SourceBytes: 4096, DestBytes: 1 << 40,
			},
			want: with(fixed("info"), map[string]any{
				events.FieldState:             "ended",
				events.FieldEventCategory:     []any{"network"},
				events.FieldEventType:         []any{"connection", "end"},
				events.FieldEventAction:       "end",
				events.FieldEventOutcome:      "success",
				events.FieldEventReason:       "client_closed",
				events.FieldEventDuration:     n("10800000000001"),
				events.FieldSourceIP:          "10.1.2.3",
				events.FieldSourcePort:        n("51234"),
				events.FieldSourceBytes:       n("4096"),
				events.FieldDestinationDomain: "courier.push.apple.com",
				events.FieldDestinationIP:     "17.57.146.20",
				events.FieldDestinationPort:   n("5223"),
				events.FieldDestinationBytes:  n("1099511627776"),
				events.FieldRuleName:          "apple-push",
			}),
		},
		{
			name: "end with zero bytes and failure outcome",
			ev: events.Event{
				Time: testTime, Action: events.ActionEnd, Outcome: events.OutcomeFailure, Reason: "dial_timeout",
			},
			want: with(fixed("warn"), map[string]any{
				events.FieldState:            "ended",
				events.FieldEventCategory:    []any{"network"},
				events.FieldEventType:        []any{"connection", "end"},
				events.FieldEventAction:      "end",
				events.FieldEventOutcome:     "failure",
				events.FieldEventReason:      "dial_timeout",
				events.FieldEventDuration:    n("0"),
				events.FieldSourceBytes:      n("0"),
				events.FieldDestinationBytes: n("0"),
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeFlat(t, &tt.ev)
			if !reflect.DeepEqual(got, tt.want) {
				for _, k := range slices.Sorted(maps.Keys(with(got, tt.want))) {
					if !reflect.DeepEqual(got[k], tt.want[k]) {
						t.Errorf("%s = %#v, want %#v", k, got[k], tt.want[k])
					}
				}
			}
		})
	}
}

// TestJSONOmitsEmpty: a bare decision carries only the fixed fields and
// what its action implies; no empty strings, zero ports or empty objects.
func TestJSONOmitsEmpty(t *testing.T) {
	for _, a := range []events.Action{events.ActionSplice, events.ActionUpstream, events.ActionAllow, events.ActionDeny} {
		line := events.NewJSONEncoder("").AppendEvent(nil, &events.Event{Time: testTime, Action: a})
		m := decodeLine(t, line)
		keys := slices.Sorted(maps.Keys(m))
		if want := []string{"@timestamp", "ecs", "event", "log", "mdmproxy", "observer"}; !slices.Equal(keys, want) {
			t.Errorf("%s: top-level keys %v, want %v\n%s", a, keys, want, line)
		}
		flat := flatten(t, m, "", nil)
		for _, k := range []string{events.FieldEventReason, events.FieldEventDuration, events.FieldObserverName} {
			if _, ok := flat[k]; ok {
				t.Errorf("%s: %s present though empty\n%s", a, k, line)
			}
		}
		if bytes.Contains(line, []byte(`""`)) || bytes.Contains(line, []byte(`{}`)) {
			t.Errorf("%s: empty value in %s", a, line)
		}
	}
}

// TestFieldNames checks that every Field constant is where the encoder
// writes it, so the dotted names and the nested keys cannot drift apart.
func TestFieldNames(t *testing.T) {
	all := []string{
		events.FieldTimestamp, events.FieldECSVersion, events.FieldLogLevel,
		events.FieldEventKind, events.FieldEventCategory, events.FieldEventType, events.FieldEventAction,
		events.FieldEventOutcome, events.FieldEventReason, events.FieldEventDuration,
		events.FieldSourceIP, events.FieldSourcePort, events.FieldSourceBytes,
		events.FieldDestinationDomain, events.FieldDestinationIP, events.FieldDestinationPort, events.FieldDestinationBytes,
		events.FieldTLSClientServerName, events.FieldRuleName, events.FieldURLOriginal, events.FieldHTTPRequestMethod,
		events.FieldObserverName, events.FieldObserverProduct, events.FieldObserverVendor, events.FieldObserverType,
		events.FieldObserverVersion, events.FieldHTTPResponseStatus,
		events.FieldState, events.FieldTargetRaw, events.FieldEnforceAction, events.FieldEnforceReason,
		events.FieldBalancerIP, events.FieldBalancerPort, events.FieldIntercepted, events.FieldECH, events.FieldUpstream,
		events.FieldAggregateCount, events.FieldAggregateFirst, events.FieldAggregateLast, events.FieldDroppedReport,
	}
	e := events.Event{
		Time: testTime, Action: events.ActionEnd, Reason: "r", Duration: 1,
		SourceIP: netip.MustParseAddr("10.0.0.1"), SourcePort: 1, SourceBytes: 1,
		DestDomain: "d.example", DestIP: netip.MustParseAddr("10.0.0.2"), DestPort: 2, DestBytes: 2,
		SNI: "d.example", Rule: "r", URL: "http://d.example/", Method: "GET", StatusCode: 200,
		RawTarget: "bad target", EnforceAction: events.ActionDeny, EnforceReason: "no_rule",
		Balancer: netip.MustParseAddrPort("10.0.0.9:40000"), Intercepted: true, ECH: true, Upstream: "filter.school.lan:8080",
		Count: 2, FirstTime: testTime, LastTime: testTime, Dropped: 3,
	}
	enc, err := events.NewEncoder(events.FormatJSON, events.Observer{Name: "gw1", Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	got := flatten(t, decodeLine(t, enc.AppendEvent(nil, &e)), "", nil)
	for _, f := range all {
		if _, ok := got[f]; !ok {
			t.Errorf("field %s not in record", f)
		}
	}
	if len(got) != len(all) {
		t.Errorf("record has %d fields, constants name %d: %v", len(got), len(all), slices.Sorted(maps.Keys(got)))
	}
}

func TestJSONValues(t *testing.T) {
	tests := []struct {
		name  string
		ev    events.Event
		field string
		want  any
	}{
		{"timestamp converted to UTC", events.Event{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))},
			events.FieldTimestamp, "2026-01-02T02:04:05.000000006Z"},
		{"timestamp keeps nine digits", events.Event{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			events.FieldTimestamp, "2026-01-02T03:04:05.000000000Z"},
		{"IPv4-mapped address written as IPv4", events.Event{SourceIP: netip.MustParseAddr("::ffff:192.0.2.7")},
			events.FieldSourceIP, "192.0.2.7"},
		{"IPv6 zone dropped", events.Event{DestIP: netip.MustParseAddr("fe80::1%eth0")},
			events.FieldDestinationIP, "fe80::1"},
		{"quotes and control characters escaped", events.Event{SNI: "a\"b\nc\\d"},
			events.FieldTLSClientServerName, "a\"b\nc\\d"},
		{"invalid UTF-8 replaced", events.Event{SNI: "a\xffb"},
			events.FieldTLSClientServerName, "a\ufffdb"},
		{"explicit outcome kept", events.Event{Action: events.ActionSplice, Outcome: events.OutcomeUnknown},
			events.FieldEventOutcome, "unknown"},
		{"bytes on a decision only when set", events.Event{Action: events.ActionSplice, DestBytes: 7},
			events.FieldDestinationBytes, n("7")},
		{"allowed but not established", events.Event{Action: events.ActionSplice, Outcome: events.OutcomeFailure, Reason: "dial_refused"},
			events.FieldState, "not_established"},
		{"established splice", events.Event{Action: events.ActionSplice},
			events.FieldState, "established"},
		{"hostile domain moved out of destination.domain", events.Event{Action: events.ActionDeny, DestDomain: "Evil.Example/x y"},
			events.FieldTargetRaw, "Evil.Example/x y"},
		{"hostile domain not in destination.domain", events.Event{Action: events.ActionDeny, DestDomain: "a..b", DestPort: 443},
			events.FieldDestinationDomain, nil},
		{"normalised domain kept", events.Event{Action: events.ActionDeny, DestDomain: "push-1.example_x.org"},
			events.FieldDestinationDomain, "push-1.example_x.org"},
		{"raw target wins over a rejected domain", events.Event{Action: events.ActionDeny, DestDomain: "A", RawTarget: "A:B:C"},
			events.FieldTargetRaw, "A:B:C"},
		{"plain HTTP status", events.Event{Action: events.ActionEnd, Method: "GET", StatusCode: 404},
			events.FieldHTTPResponseStatus, n("404")},
		{"aggregate count", events.Event{Action: events.ActionDeny, Count: 7, FirstTime: testTime},
			events.FieldAggregateCount, n("7")},
		{"no aggregate for a single event", events.Event{Action: events.ActionDeny, Count: 1},
			events.FieldAggregateCount, nil},
		{"balancer port", events.Event{Balancer: netip.MustParseAddrPort("[::ffff:10.0.0.9]:443")},
			events.FieldBalancerIP, "10.0.0.9"},
		{"report mode", events.Event{Action: events.ActionAllow, EnforceAction: events.ActionDeny},
			events.FieldEnforceAction, "deny"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			if ev.Action == "" {
				ev.Action = events.ActionAllow
			}
			if ev.Time.IsZero() {
				ev.Time = testTime
			}
			got := encodeFlat(t, &ev)
			if !reflect.DeepEqual(got[tt.field], tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.field, got[tt.field], tt.want)
			}
		})
	}
}

func TestJSONZeroTimeIsNow(t *testing.T) {
	before := time.Now()
	got := encodeFlat(t, &events.Event{Action: events.ActionDeny})
	ts, err := time.Parse(time.RFC3339Nano, got[events.FieldTimestamp].(string))
	if err != nil {
		t.Fatal(err)
	}
	if ts.Before(before.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("@timestamp %v is not now", ts)
	}
}

func TestJSONAppends(t *testing.T) {
	enc := events.NewJSONEncoder("gw1")
	buf := enc.AppendEvent([]byte("prefix\n"), &events.Event{Time: testTime, Action: events.ActionDeny})
	first, rest, _ := bytes.Cut(buf, []byte("\n"))
	if string(first) != "prefix" {
		t.Fatalf("AppendEvent overwrote dst: %q", buf)
	}
	decodeLine(t, rest)
}

func TestEventLevel(t *testing.T) {
	for a, want := range map[events.Action]events.Level{
		events.ActionSplice: events.LevelInfo, events.ActionUpstream: events.LevelInfo,
		events.ActionAllow: events.LevelInfo, events.ActionEnd: events.LevelInfo, events.ActionDeny: events.LevelWarn,
	} {
		if got := (&events.Event{Action: a}).Level(); got != want {
			t.Errorf("%s: level %v, want %v", a, got, want)
		}
	}
}
