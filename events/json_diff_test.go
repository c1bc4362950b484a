package events

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// oddStrings are texts a hostile client or a careless configuration can put
// into a field: every escaping rule of appendJSONString is hit at least once,
// at the start, the middle and the end of a string.
var oddStrings = []string{
	"",
	"plain",
	`"`, `\`, `a"b\c`, `\"`, `""`, `\\`,
	"\x00", "a\x00b", "\x01\x02\x1f", "\x7f", "a\x7fb", "\x1b[31mred\x1b[0m",
	"\b\f\n\r\t", "line1\nline2", "\r\n", "tab\there",
	"é", "日本語", "emoji 😀", "\u2028\u2029", "\ufeff", "\ufffd", "a\ufffdb",
	"\xff", "a\xffb", "\xc3", "\xc3(", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf",
	"\x80\x80\x80", "é\xff日\x00\"",
	"</script><script>", "{\"a\":1}", "%s%n%d", "null",
	strings.Repeat("a", 70000),
	strings.Repeat("é\"\x00\xff", 5000),
}

// jsonObservers are the observers the differential tests encode with.
var jsonObservers = []Observer{
	{},
	{Name: "gw1"},
	{Name: "gw1.school.lan", Version: "1.2.3"},
	{Name: "odd\"\\\x00\xffé", Version: "v\n\x7f"},
}

// assertJSONMatchesReference encodes e with JSONEncoder and with the
// zerolog-based reference for obs and fails on any byte of difference.
func assertJSONMatchesReference(t *testing.T, obs Observer, e *Event) {
	t.Helper()
	prefix := []byte("kept:") // both must append, not overwrite
	want := newReferenceJSONEncoder(obs).AppendEvent(bytes.Clone(prefix), e)
	got := newJSONEncoder(obs).AppendEvent(bytes.Clone(prefix), e)
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		lo := max(0, i-40)
		t.Fatalf("observer %+q, event %+v:\nfirst difference at byte %d\n got …%q\nwant …%q",
			obs, *e, i, got[lo:min(len(got), i+40)], want[lo:min(len(want), i+40)])
	}
}

// referenceCases are events covering every field, alone and together, on
// every action.
func referenceCases() []*Event {
	ts := time.Date(2026, 11, 23, 18, 0, 0, 123456789, time.UTC)
	client := netip.MustParseAddr("10.1.2.3")
	full := Event{
		Time: ts, Action: ActionSplice, Outcome: OutcomeSuccess, Reason: "rule",
		Duration:   1500 * time.Millisecond,
		SourceIP:   netip.MustParseAddr("::ffff:10.1.2.3"),
		SourcePort: 65535,
		DestDomain: "courier.push.apple.com", DestIP: netip.MustParseAddr("fe80::1%eth0"), DestPort: 5223,
		SNI: "courier.push.apple.com", Rule: "apple-push", URL: "http://example.org/a?b=c", Method: "GET",
		SourceBytes: -1, DestBytes: 1 << 62, StatusCode: 502,
		RawTarget:     "raw target",
		EnforceAction: ActionDeny, EnforceReason: "no_rule",
		Balancer:    netip.MustParseAddrPort("[2001:db8::1]:8443"),
		Intercepted: true, ECH: true, Upstream: "proxy.example:3128",
		Count: 7, FirstTime: ts.Add(-time.Hour).In(time.FixedZone("X", 3600)), LastTime: ts,
		Dropped: 1<<64 - 1,
	}
	cases := []*Event{
		{Time: ts},
		{Time: ts, Action: ActionEnd},
		{Time: ts, Action: ActionDropped, Dropped: 3},
		{Time: ts, Action: ActionDeny, SourceIP: client, Reason: "no_rule", StatusCode: 403},
		{Time: ts, Action: ActionEnd, Outcome: OutcomeFailure, Duration: -5, SourceBytes: 10},
		{Time: ts, Action: ActionAllow, Method: "CONNECT"},
		{Time: ts, Action: ActionUpstream, DestPort: 443},
		{Time: ts, Action: ActionSplice, DestDomain: "Not.Normal"},
		{Time: ts, Action: ActionSplice, DestDomain: "bad..name", RawTarget: "wins"},
		{Time: ts, Action: ActionDeny, Count: 1, FirstTime: ts},
		{Time: ts, Action: ActionDeny, Count: 2},
		{Time: ts, Action: ActionDeny, Count: 2, LastTime: ts},
		{Time: ts, Action: "", Outcome: "weird"},
		{Time: ts, EnforceReason: "only reason"},
		{Time: ts, Balancer: netip.AddrPortFrom(client, 0)},
		{Time: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC), Action: ActionEnd},
		{Time: time.Date(-3, 1, 1, 0, 0, 0, 0, time.FixedZone("Y", -7200))},
		&full,
	}
	// Every odd string in every string field, with the full event around
	// it so the escaping meets its neighbours.
	for _, s := range oddStrings {
		for _, set := range []func(*Event){
			func(e *Event) { e.Action = Action(s) },
			func(e *Event) { e.Outcome = s },
			func(e *Event) { e.Reason = s },
			func(e *Event) { e.DestDomain = s },
			func(e *Event) { e.SNI = s },
			func(e *Event) { e.Rule = s },
			func(e *Event) { e.URL = s },
			func(e *Event) { e.Method = s },
			func(e *Event) { e.RawTarget = s },
			func(e *Event) { e.EnforceAction = Action(s) },
			func(e *Event) { e.EnforceReason = s },
			func(e *Event) { e.Upstream = s },
		} {
			e := full
			set(&e)
			cases = append(cases, &e)
		}
	}
	return cases
}

// TestJSONMatchesReference: the direct appender writes, byte for byte, what
// the zerolog-based encoder it replaced wrote.
func TestJSONMatchesReference(t *testing.T) {
	for _, obs := range jsonObservers {
		for _, e := range referenceCases() {
			assertJSONMatchesReference(t, obs, e)
		}
	}
}

// TestAppendJSONStringMatchesZerolog compares the string escaping with
// zerolog's own on every string of one and two bytes and on oddStrings.
func TestAppendJSONStringMatchesZerolog(t *testing.T) {
	var zbuf bytes.Buffer
	zl := zerolog.New(&zbuf)
	check := func(s string) {
		zbuf.Reset()
		zl.Log().Str("k", s).Send()
		// zerolog wrote {"k":"…"}\n; keep the quoted value.
		want := zbuf.Bytes()[len(`{"k":`) : zbuf.Len()-len("}\n")]
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	}
	for _, s := range oddStrings {
		check(s)
	}
	for a := range 256 {
		check(string([]byte{byte(a)}))
		for b := range 256 {
			check(string([]byte{byte(a), byte(b)}))
		}
	}
}

// TestJSONEncoderZeroValue: a JSONEncoder{} writes what an encoder for an
// observer without name or version writes.
func TestJSONEncoderZeroValue(t *testing.T) {
	for _, e := range referenceCases()[:5] {
		want := newJSONEncoder(Observer{}).AppendEvent(nil, e)
		if got := new(JSONEncoder).AppendEvent(nil, e); !bytes.Equal(got, want) {
			t.Fatalf("zero value:\n got %s\nwant %s", got, want)
		}
	}
}

// TestJSONEncodeAllocs: once dst has room, encoding the fullest event
// allocates nothing (the data path encodes on every tunnel's goroutine).
func TestJSONEncodeAllocs(t *testing.T) {
	enc := newJSONEncoder(Observer{Name: "gw1", Version: "1.0"})
	cases := referenceCases()
	e := cases[len(cases)-1]
	buf := make([]byte, 0, 1<<20)
	if n := testing.AllocsPerRun(100, func() { buf = enc.AppendEvent(buf[:0], e) }); n != 0 {
		t.Fatalf("AppendEvent allocates %v times per event", n)
	}
	if !utf8.Valid(buf) {
		t.Fatalf("record is not valid UTF-8: %q", buf)
	}
}

// fuzzActions are the actions a fuzzed selector picks from; index 0 means
// the fuzzed action text itself.
var fuzzActions = []Action{"", ActionSplice, ActionUpstream, ActionAllow, ActionDeny, ActionEnd, ActionDropped}

// takeAddr builds an address from b: its first byte chooses none, IPv4 or
// IPv6 (IPv4-mapped ones included), the next 4 or 16 bytes are the address.
// It returns the rest of b.
func takeAddr(b []byte) (netip.Addr, []byte) {
	if len(b) == 0 {
		return netip.Addr{}, b
	}
	sel, b := b[0]%3, b[1:]
	switch {
	case sel == 1 && len(b) >= 4:
		return netip.AddrFrom4([4]byte(b[:4])), b[4:]
	case sel == 2 && len(b) >= 16:
		return netip.AddrFrom16([16]byte(b[:16])), b[16:]
	}
	return netip.Addr{}, b
}

// FuzzJSONMatchesReference builds Events from fuzzed texts and numbers and
// checks that JSONEncoder and the zerolog-based reference agree byte for
// byte, and that the record is one line of valid UTF-8.
func FuzzJSONMatchesReference(f *testing.F) {
	f.Add("splice", "", "rule", "courier.push.apple.com", "courier.push.apple.com", "apple-push", "", "", "", "", "", "", "gw1", "",
		[]byte{1, 10, 1, 2, 3, 1, 17, 57, 146, 20, 0}, int64(1795456800), int64(123456789), int64(0), int64(0), int64(0), int64(0), int64(0), uint64(51234<<16|5223), uint64(0), uint8(1))
	f.Add("end", "failure", "reset", "Bad Name", "\xff\x00", "r\"", "http://x/\u2028", "GET", "raw\n", "deny", "no_rule\t", "up:3128", "o\\", "1.0\x7f",
		[]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1, 2, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
		int64(-62135596800), int64(0), int64(-1), int64(1<<62), int64(-7), int64(502), int64(3), uint64(1<<48|2<<32|3<<16|4), uint64(1<<64-1), uint8(5|1<<3|1<<4))
	f.Add("x", "y", "", "", "", "", "", "", "", "", "", "", "", "", []byte{}, int64(1<<40), int64(-1), int64(0), int64(0), int64(0), int64(0), int64(2), uint64(0), uint64(0), uint8(4))
	f.Fuzz(func(t *testing.T, action, outcome, reason, domain, sni, rule, url, method, raw, enfAction, enfReason, upstream, obsName, obsVersion string,
		addrs []byte, sec, nsec, duration, bytesIn, bytesOut, status, count int64, ports, dropped uint64, flags uint8) {
		e := &Event{
			Time: time.Unix(sec%(1<<40), nsec), Action: Action(action), Outcome: outcome, Reason: reason,
			Duration:   time.Duration(duration),
			SourcePort: uint16(ports >> 16), DestDomain: domain, DestPort: uint16(ports),
			SNI: sni, Rule: rule, URL: url, Method: method,
			SourceBytes: bytesIn, DestBytes: bytesOut, StatusCode: int(status),
			RawTarget: raw, EnforceAction: Action(enfAction), EnforceReason: enfReason,
			Intercepted: flags&(1<<3) != 0, ECH: flags&(1<<4) != 0, Upstream: upstream,
			Count: int(count), Dropped: dropped,
		}
		if a := fuzzActions[int(flags&7)%len(fuzzActions)]; a != "" {
			e.Action = a
		}
		if e.Time.IsZero() {
			e.Time = time.Unix(0, 0) // zero means "now", which two encodings can't share
		}
		if flags&(1<<5) != 0 {
			e.FirstTime = time.Unix(0, duration)
		}
		if flags&(1<<6) != 0 {
			e.LastTime = time.Unix(sec%(1<<40), -nsec)
		}
		var balancer netip.Addr
		e.SourceIP, addrs = takeAddr(addrs)
		e.DestIP, addrs = takeAddr(addrs)
		balancer, _ = takeAddr(addrs)
		if balancer.IsValid() {
			e.Balancer = netip.AddrPortFrom(balancer, uint16(ports>>32))
		}
		obs := Observer{Name: obsName, Version: obsVersion}
		assertJSONMatchesReference(t, obs, e)
		rec := newJSONEncoder(obs).AppendEvent(nil, e)
		if !utf8.Valid(rec) || bytes.IndexByte(rec, '\n') != len(rec)-1 {
			t.Fatalf("record is not one line of valid UTF-8: %q", rec)
		}
	})
}
