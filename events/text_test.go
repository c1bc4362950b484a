package events_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mdmproxy/mdmproxy/events"
)

// hostile are SNI, host and URL values a client controls, written to break
// out of a field: delimiters and escapes of every format, line breaks,
// control bytes, invalid UTF-8, and values longer than any field.
var hostile = []string{
	`plain.example`,
	`a|b`,
	`a=b dst=6.6.6.6 act=splice`,
	`a\`,
	`a\|b\=c\\d`,
	"line\nbreak",
	"cr\rlf\r\n",
	"tab\there\tsrc=1.1.1.1",
	"nul\x00bel\x07esc\x1bdel\x7f",
	"bad\xff\xfeutf8",
	"c1\u0085ls\u2028ps\u2029",
	`"quoted" <tag> 'x'`,
	"100%25 %zz %",
	strings.Repeat("long", 600),
	strings.Repeat("é", 700),
	"CEF:0|x|y|z|1|n|10|src=6.6.6.6",
	"LEEF:2.0|x|y|z|1|x09|src=6.6.6.6",
}

func hostileEvent(action events.Action, v string) *events.Event {
	return &events.Event{
		Time: testTime, Action: action, Reason: "no_rule",
		SourceIP: netip.MustParseAddr("10.1.2.3"), SourcePort: 40000,
		DestDomain: v, DestIP: netip.MustParseAddr("192.0.2.9"), DestPort: 443,
		SNI: v, URL: "http://" + v + "/", Method: "GET", Rule: v,
	}
}

func TestCEFHostileValues(t *testing.T) {
	enc := events.NewCEFEncoder(events.Observer{Name: "gw|1=x", Version: "1.0|\\beta"})
	for _, v := range hostile {
		line := string(enc.AppendEvent(nil, hostileEvent(events.ActionDeny, v)))
		checkOneLine(t, line)
		header, ext, err := parseCEF(strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatalf("%q: %v\n%s", v, err, line)
		}
		wantHeader := []string{"0", "mdmproxy", "mdmproxy", "1.0|\\beta", "deny", "connection denied", "5"}
		if strings.Join(header, "\x00") != strings.Join(wantHeader, "\x00") {
			t.Errorf("%q: header %q, want %q", v, header, wantHeader)
		}
		want := sanitized(v, "\n\r")
		for k, w := range map[string]string{
			"cs2": want, "cs1": want, "request": sanitized("http://"+v+"/", "\n\r"),
			"src": "10.1.2.3", "dst": "192.0.2.9", "dpt": "443", "act": "deny", "dvchost": "gw|1=x",
			"cs1Label": "rule", "cs2Label": "sni",
		} {
			if ext[k] != w {
				t.Errorf("%q: %s = %q, want %q", v, k, ext[k], w)
			}
		}
		// A name that is not normalised never reaches dhost.
		if v == "plain.example" {
			if ext["dhost"] != v || ext["cs5"] != "" {
				t.Errorf("dhost %q cs5 %q", ext["dhost"], ext["cs5"])
			}
		} else if ext["dhost"] != "" || ext["cs5"] != want {
			t.Errorf("%q: dhost %q, cs5 (raw target) %q", v, ext["dhost"], ext["cs5"])
		}
	}
}

func TestLEEFHostileValues(t *testing.T) {
	enc := events.NewLEEFEncoder(events.Observer{Name: "gw\t1", Version: "1.0|x"})
	for _, v := range hostile {
		line := string(enc.AppendEvent(nil, hostileEvent(events.ActionDeny, v)))
		checkOneLine(t, line)
		header, attrs, err := parseLEEF(strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatalf("%q: %v\n%s", v, err, line)
		}
		if want := "mdmproxy|mdmproxy|1.0|x|deny"; strings.Join(header, "|") != want {
			t.Errorf("header %q, want %q", header, want)
		}
		want := sanitized(v, "\n\r\t")
		for k, w := range map[string]string{
			"sni": want, "rule": want, "url": sanitized("http://"+v+"/", "\n\r\t"),
			"src": "10.1.2.3", "dst": "192.0.2.9", "dstPort": "443", "cat": "deny", "devName": "gw\t1",
			"devTime": "2026-11-23T18:00:00.123Z", "sev": "5", "state": "refused",
		} {
			if attrs[k] != w {
				t.Errorf("%q: %s = %q, want %q", v, k, attrs[k], w)
			}
		}
	}
}

func TestSquidHostileValues(t *testing.T) {
	for _, v := range hostile {
		line := string(events.SquidEncoder{}.AppendEvent(nil, hostileEvent(events.ActionDeny, v)))
		checkOneLine(t, line)
		f := strings.Split(strings.TrimSuffix(line, "\n"), " ")
		f = nonEmpty(f)
		if len(f) != 10 {
			t.Fatalf("%q: %d fields: %q", v, len(f), line)
		}
		if f[2] != "10.1.2.3" || f[3] != "TCP_DENIED/403" || f[5] != "GET" || f[8] != "HIER_NONE/-" {
			t.Errorf("%q: fields %q", v, f)
		}
		for _, c := range f[6] {
			if c <= ' ' || c >= 0x7f {
				t.Errorf("%q: URL field %q holds %q", v, f[6], c)
			}
		}
	}
}

func nonEmpty(f []string) []string {
	out := f[:0]
	for _, s := range f {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func checkOneLine(t *testing.T, line string) {
	t.Helper()
	if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 || strings.ContainsRune(line, '\r') {
		t.Fatalf("not exactly one line: %q", line)
	}
}

func TestSquidLines(t *testing.T) {
	client := netip.MustParseAddr("10.0.0.5")
	apple := netip.MustParseAddr("17.57.146.20")
	tunnel := events.Event{Time: time.Unix(1764504000, 123e6), SourceIP: client, SourcePort: 5000,
		DestDomain: "courier.push.apple.com", DestIP: apple, DestPort: 5223, Rule: "apple-push"}
	with := func(f func(e *events.Event)) *events.Event { e := tunnel; f(&e); return &e }
	tests := []struct {
		name string
		ev   *events.Event
		want string // "" = skipped
	}{
		{"splice decision skipped", with(func(e *events.Event) { e.Action = events.ActionSplice }), ""},
		{"tunnel end", with(func(e *events.Event) {
			e.Action, e.Duration, e.SourceBytes, e.DestBytes = events.ActionEnd, 5230*time.Millisecond, 100, 52211
		}), "1764504000.123   5230 10.0.0.5 TCP_TUNNEL/200 52211 CONNECT courier.push.apple.com:5223 - HIER_DIRECT/17.57.146.20 -\n"},
		{"denied", with(func(e *events.Event) { e.Action, e.DestIP = events.ActionDeny, netip.Addr{} }),
			"1764504000.123      0 10.0.0.5 TCP_DENIED/403 0 CONNECT courier.push.apple.com:5223 - HIER_NONE/- -\n"},
		{"dial failed", with(func(e *events.Event) {
			e.Action, e.Outcome, e.StatusCode = events.ActionSplice, events.OutcomeFailure, 504
		}), "1764504000.123      0 10.0.0.5 NONE_NONE/504 0 CONNECT courier.push.apple.com:5223 - HIER_NONE/- -\n"},
		{"upstream tunnel end", with(func(e *events.Event) {
			e.Action, e.Upstream, e.DestIP = events.ActionEnd, "filter.school.lan:8080", netip.Addr{}
		}), "1764504000.123      0 10.0.0.5 TCP_TUNNEL/200 0 CONNECT courier.push.apple.com:5223 - FIRSTUP_PARENT/filter.school.lan:8080 -\n"},
		{"plain request end", with(func(e *events.Event) {
			e.Action, e.Method, e.URL, e.StatusCode, e.DestBytes, e.DestPort = events.ActionEnd, "GET", "http://example.org/a b", 404, 512, 80
		}), "1764504000.123      0 10.0.0.5 TCP_MISS/404 512 GET http://example.org/a%20b - HIER_DIRECT/17.57.146.20 -\n"},
		{"plain allow skipped", with(func(e *events.Event) { e.Action, e.Method = events.ActionAllow, "GET" }), ""},
		{"raw target", &events.Event{Time: time.Unix(1764504000, 0), Action: events.ActionDeny, SourceIP: client, RawTarget: "a b:c"},
			"1764504000.000      0 10.0.0.5 TCP_DENIED/403 0 CONNECT a%20b:c - HIER_NONE/- -\n"},
		{"dropped report skipped", &events.Event{Action: events.ActionDropped, Dropped: 5}, ""},
	}
	enc, err := events.NewEncoder(events.FormatSquid, events.Observer{})
	if err != nil {
		t.Fatal(err)
	}
	sk := enc.(interface{ Skips(*events.Event) bool })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if skipped := sk.Skips(tt.ev); skipped != (tt.want == "") {
				t.Fatalf("Skips = %v, want %v", skipped, tt.want == "")
			}
			if tt.want == "" {
				return
			}
			if got := string(enc.AppendEvent(nil, tt.ev)); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestCEFLEEFFields(t *testing.T) {
	e := &events.Event{
		Time: testTime, Action: events.ActionEnd, Reason: "client_closed", Duration: 1500 * time.Millisecond,
		SourceIP: netip.MustParseAddr("10.0.0.5"), SourcePort: 5000, SourceBytes: 10, DestBytes: 20,
		DestDomain: "courier.push.apple.com", DestIP: netip.MustParseAddr("17.57.146.20"), DestPort: 5223,
		Rule: "apple-push", Balancer: netip.MustParseAddrPort("10.9.9.9:1234"), Intercepted: true,
	}
	_, ext, err := parseCEF(strings.TrimSuffix(string(events.NewCEFEncoder(events.Observer{}).AppendEvent(nil, e)), "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for k, w := range map[string]string{"rt": "1795456800123", "in": "10", "out": "20", "cn2": "1500", "cn2Label": "durationMs",
		"flexString2": "10.9.9.9:1234", "cat": "intercepted", "cs3": "ended", "outcome": "success", "reason": "client_closed",
		"dhost": "courier.push.apple.com", "spt": "5000"} {
		if ext[k] != w {
			t.Errorf("cef %s = %q, want %q", k, ext[k], w)
		}
	}
	agg := &events.Event{Time: testTime, Action: events.ActionDeny, Count: 12, FirstTime: testTime.Add(-9 * time.Second), LastTime: testTime}
	_, ext, _ = parseCEF(strings.TrimSuffix(string(events.NewCEFEncoder(events.Observer{}).AppendEvent(nil, agg)), "\n"))
	if ext["cn1"] != "12" || ext["cn1Label"] != "count" || ext["start"] != "1795456791123" || ext["end"] != "1795456800123" {
		t.Errorf("aggregate: %v", ext)
	}
	_, attrs, err := parseLEEF(strings.TrimSuffix(string(events.NewLEEFEncoder(events.Observer{}).AppendEvent(nil, agg)), "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if attrs["count"] != "12" || attrs["firstTime"] != "2026-11-23T17:59:51.123Z" || attrs["sev"] != "5" {
		t.Errorf("leef aggregate: %v", attrs)
	}
	ech := &events.Event{Time: testTime, Action: events.ActionSplice, SNI: "public.example", ECH: true}
	if _, attrs, err = parseLEEF(strings.TrimSuffix(string(events.NewLEEFEncoder(events.Observer{}).AppendEvent(nil, ech)), "\n")); err != nil || attrs["ech"] != "true" {
		t.Errorf("leef ech: %v, %v", attrs, err)
	}
}

// FuzzTextFormats: whatever a client puts in the SNI, the host or the URL,
// every format's line (JSON too) stays one line, parses by its
// specification, and the fields the proxy sets (addresses, ports, action)
// come out unchanged.
func FuzzTextFormats(f *testing.F) {
	for _, v := range hostile {
		f.Add(v, v, v)
	}
	cef := events.NewCEFEncoder(events.Observer{Name: "gw1", Version: "1"})
	leef := events.NewLEEFEncoder(events.Observer{Name: "gw1", Version: "1"})
	js := events.NewJSONEncoder("gw1")
	f.Fuzz(func(t *testing.T, sni, host, url string) {
		e := &events.Event{Time: testTime, Action: events.ActionDeny, SourceIP: netip.MustParseAddr("10.1.2.3"),
			DestIP: netip.MustParseAddr("192.0.2.9"), DestPort: 443, SNI: sni, DestDomain: host, URL: url, Method: "GET", Rule: sni}
		rec := flatten(t, decodeLine(t, js.AppendEvent(nil, e)), "", nil)
		if rec[events.FieldSourceIP] != "10.1.2.3" || rec[events.FieldDestinationIP] != "192.0.2.9" || rec[events.FieldEventAction] != "deny" ||
			rec[events.FieldTLSClientServerName] != nonEmptyOrNil(perByteUTF8(sni)) {
			t.Fatalf("json fields changed: %v", rec)
		}
		line := string(cef.AppendEvent(nil, e))
		checkOneLine(t, line)
		_, ext, err := parseCEF(strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatalf("cef: %v\n%q", err, line)
		}
		if ext["src"] != "10.1.2.3" || ext["dst"] != "192.0.2.9" || ext["act"] != "deny" || ext["cs2"] != sanitized(sni, "\n\r") ||
			ext["request"] != sanitized(url, "\n\r") {
			t.Fatalf("cef fields changed: %q", line)
		}
		line = string(leef.AppendEvent(nil, e))
		checkOneLine(t, line)
		_, attrs, err := parseLEEF(strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatalf("leef: %v\n%q", err, line)
		}
		if attrs["src"] != "10.1.2.3" || attrs["dst"] != "192.0.2.9" || attrs["cat"] != "deny" || attrs["sni"] != sanitized(sni, "\n\r\t") {
			t.Fatalf("leef fields changed: %q", line)
		}
		line = string(events.SquidEncoder{}.AppendEvent(nil, e))
		checkOneLine(t, line)
		if f := nonEmpty(strings.Split(strings.TrimSuffix(line, "\n"), " ")); len(f) != 10 || f[2] != "10.1.2.3" || f[3] != "TCP_DENIED/403" {
			t.Fatalf("squid fields: %q", line)
		}
	})
}

// nonEmptyOrNil is s, or nil for "" (an empty field is left out of a record).
func nonEmptyOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// perByteUTF8 is s with each byte of invalid UTF-8 replaced by U+FFFD, as the
// JSON encoder does.
func perByteUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			b.WriteRune(utf8.RuneError)
			i++
			continue
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	return b.String()
}
