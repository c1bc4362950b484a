package proxy

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// interceptPolicy is the policy of the decision table below: FCM by name only (as the
// google-fcm preset), an on-premises MDM by address, a non-TLS service by address.
func interceptPolicy(t *testing.T) *Settings {
	t.Helper()
	p := func(n uint16) allowlist.Ports { return allowlist.Ports{{Lo: n, Hi: n}} }
	pol, err := allowlist.Compile(allowlist.Spec{
		Rules: []allowlist.Rule{
			{Name: "fcm", Domains: []string{"mtalk.example", "*.push.example"}, Ports: allowlist.Ports{{Lo: 5228, Hi: 5230}, {Lo: 443, Hi: 443}}, Persistent: true},
			{Name: "mdm", CIDRs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/28")}, Ports: p(443)},
			{Name: "legacy", CIDRs: []netip.Prefix{netip.MustParsePrefix("198.51.100.16/28")}, Ports: p(5229), TLS: allowlist.TLSOptional},
			{Name: "onprem", Domains: []string{"mdm.school.example"}, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32")}, Ports: p(443)},
			{Name: "private-name", Domains: []string{"intranet.school.example"}, Ports: p(443)},
		},
		Clients:   []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		DenyCIDRs: allowlist.DefaultDenyCIDRs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Settings{Policy: pol, Hosts: map[string][]netip.Addr{
		"mdm.school.example":      {netip.MustParseAddr("10.1.2.3")},
		"intranet.school.example": {netip.MustParseAddr("10.9.9.9")},
	}, Timeouts: DefaultTimeouts}
}

// The spec's rule for intercepted flows, case by case: a CIDR rule for the original address,
// or a domain rule for the SNI when the SNI resolves to that address; an SNI must always be
// allowed; no SNI means CIDR rules only.
func TestDecideIntercepted(t *testing.T) {
	srv := &Server{LookupTTL: func(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
		switch name {
		case "mtalk.example":
			return []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("2001:db8::10")}, time.Minute, nil
		case "a.push.example":
			return []netip.Addr{netip.MustParseAddr("203.0.113.20")}, time.Minute, nil
		}
		return nil, 0, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}}
	set := interceptPolicy(t)
	client := netip.MustParseAddr("192.0.2.7")
	tests := []struct {
		name, addr string
		port       uint16
		sni        string
		rule       string // the rule that governs an allowed flow
		reason     string // "" when allowed
	}{
		{"domain rule, SNI resolves there", "203.0.113.10", 5228, "mtalk.example", "fcm", ""},
		{"domain rule, SNI resolves there (IPv6)", "2001:db8::10", 443, "mtalk.example", "fcm", ""},
		{"domain rule, wildcard", "203.0.113.20", 5229, "a.push.example", "fcm", ""},
		{"allowed SNI aimed elsewhere", "203.0.113.99", 5228, "mtalk.example", "fcm", "sni_address_mismatch"},
		{"allowed SNI that does not resolve", "203.0.113.99", 5228, "b.push.example", "fcm", "resolve_failed"},
		{"allowed SNI on a port its rule lacks", "203.0.113.10", 5223, "mtalk.example", "", "port_not_allowed"},
		{"SNI no rule allows", "203.0.113.10", 5228, "evil.example", "", "no_rule"},
		{"CIDR rule, allowed SNI", "198.51.100.5", 443, "mtalk.example", "mdm", ""},
		{"CIDR rule, SNI not allowed", "198.51.100.5", 443, "evil.example", "mdm", "sni_not_allowed"},
		{"CIDR rule, no SNI", "198.51.100.5", 443, "", "mdm", ""},
		{"CIDR rule, wrong port", "198.51.100.5", 5228, "", "", "port_not_allowed"},
		{"no SNI, no CIDR rule", "203.0.113.10", 5228, "", "", "no_rule"},
		{"domain rule into deny_cidrs, opened by the rule", "10.1.2.3", 443, "mdm.school.example", "onprem", ""},
		{"domain rule into deny_cidrs, not opened", "10.9.9.9", 443, "intranet.school.example", "private-name", "denied_address"},
		{"no SNI into deny_cidrs", "10.9.9.9", 443, "", "", "denied_address"},
		{"tls optional by CIDR", "198.51.100.17", 5229, "", "legacy", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := allowlist.Query{Client: client, Addr: netip.MustParseAddr(tc.addr), Port: tc.port, SNI: tc.sni}
			in := srv.DecideIntercepted(context.Background(), set, q)
			d, msg := in.Decision, in.Msg
			refused := !d.Allowed()
			if refused != (tc.reason != "") || refused && d.Reason.String() != tc.reason || in.Reported() {
				t.Fatalf("refused %v, reason %q (%s); want %q", refused, d.Reason, msg, tc.reason)
			}
			if !refused && (d.RuleName() != tc.rule || msg != "") {
				t.Errorf("decision %v rule %q (%q), want allowed by %q", d.Action, d.RuleName(), msg, tc.rule)
			}
			if refused && msg == "" {
				t.Error("a refusal without a message")
			}
			if tc.rule != "" && d.RuleName() != tc.rule {
				t.Errorf("rule %q, want %q", d.RuleName(), tc.rule)
			}
		})
	}
	if c, r := srv.metrics.SNIResolveChecks.Load(), srv.metrics.SNIResolveRefused.Load(); c != 5 || r != 2 {
		t.Errorf("SNI resolve checks %d, refused %d; want 5 and 2", c, r)
	}
}

// A flow aimed at one of mdmproxy's own listeners is a loop, whether the listener is bound to
// that address or to a wildcard; other ports of the same host are not.
func TestIsOwn(t *testing.T) {
	ln := loopbackListener(t)
	srv := &Server{OwnAddrs: []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:9090"), netip.MustParseAddrPort("[::]:9091")}}
	srv.track(ln)
	defer srv.untrack(ln)
	lap := addrPortOf(ln.Addr())
	tests := []struct {
		dst  netip.AddrPort
		want bool
	}{
		{lap, true},
		{netip.AddrPortFrom(lap.Addr(), lap.Port()+1), false},
		{netip.MustParseAddrPort("127.0.0.2:9090"), true},  // wildcard listener, a local address
		{netip.MustParseAddrPort("[::1]:9091"), true},      // the same for IPv6
		{netip.MustParseAddrPort("192.0.2.1:9090"), false}, // not an address of this host
		{netip.MustParseAddrPort("0.0.0.0:443"), true},     // the unspecified address dials this host
		{netip.MustParseAddrPort("[ff02::1]:443"), true},
		{netip.MustParseAddrPort("203.0.113.1:443"), false},
	}
	for _, tc := range tests {
		if got := srv.isOwn(tc.dst); got != tc.want {
			t.Errorf("isOwn(%s) = %v, want %v", tc.dst, got, tc.want)
		}
	}
}

func TestParseTransparentMode(t *testing.T) {
	for in, want := range map[string]TransparentMode{"": TransparentRedirect, "redirect": TransparentRedirect, "tproxy": TransparentTProxy} {
		if m, err := ParseTransparentMode(in); err != nil || m != want || (in != "" && m.String() != in) {
			t.Errorf("ParseTransparentMode(%q) = %v, %v", in, m, err)
		}
	}
	if _, err := ParseTransparentMode("nat"); err == nil {
		t.Error("nat was accepted")
	}
}

// A connection straight to a TPROXY listener has the listener's own address as its original
// destination: the loop is refused before anything is read or dialled, with an event.
func TestServeTransparentRefusesItself(t *testing.T) {
	srv, _, rec := testProxy(t, []allowlist.Rule{loopbackRule("loop", 1, false, allowlist.TLSRequired)}, loopbackHosts, nil)
	ln := loopbackListener(t)
	go srv.ServeTransparent(ln, TransparentTProxy)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from a refused loop", n)
	}
	e := rec.wait(t, byAction("deny"))
	if e.Reason != "own_address" || !e.Intercepted || e.DestIP != netip.MustParseAddr("127.0.0.1") || e.DestPort != addrPortOf(ln.Addr()).Port() ||
		srv.Metrics().Intercepted.Load() != 1 {
		t.Errorf("event %+v, intercepted %d; want own_address for the listener", e, srv.Metrics().Intercepted.Load())
	}
}

// In report mode a refusal by policy (an SNI aimed elsewhere included) is let through as allow,
// enforce's verdict kept beside it; deny_cidrs and failed look-ups stay refused.
func TestDecideInterceptedReportMode(t *testing.T) {
	p := func(n uint16) allowlist.Ports { return allowlist.Ports{{Lo: n, Hi: n}} }
	pol, err := allowlist.Compile(allowlist.Spec{
		Rules:     []allowlist.Rule{{Name: "fcm", Domains: []string{"mtalk.example", "gone.example"}, Ports: p(5228)}},
		Clients:   []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		DenyCIDRs: allowlist.DefaultDenyCIDRs,
		Report:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	set := &Settings{Policy: pol}
	srv := &Server{LookupTTL: func(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
		if name == "mtalk.example" {
			return []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("10.9.9.9")}, time.Minute, nil
		}
		return nil, 0, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}}
	for _, tc := range []struct {
		addr, sni string
		enforce   string // enforce's reason
		let       bool   // let through in report mode
	}{
		{"203.0.113.10", "mtalk.example", "rule", true},
		{"203.0.113.9", "mtalk.example", "sni_address_mismatch", true},
		{"203.0.113.9", "other.example", "no_rule", true},
		{"10.9.9.9", "mtalk.example", "denied_address", false}, // deny_cidrs holds in report mode
		{"203.0.113.9", "gone.example", "resolve_failed", false},
	} {
		q := allowlist.Query{Client: netip.MustParseAddr("192.0.2.7"), Addr: netip.MustParseAddr(tc.addr), Port: 5228, SNI: tc.sni}
		in := srv.DecideIntercepted(context.Background(), set, q)
		if in.Enforce.Reason.String() != tc.enforce || in.Decision.Allowed() != tc.let ||
			in.Reported() != (tc.let && tc.enforce != "rule") {
			t.Errorf("%s to %s: enforce %v (%s), carried out %v, reported %v; want enforce %s, let through %v",
				tc.sni, tc.addr, in.Enforce.Action, in.Enforce.Reason, in.Decision.Action, in.Reported(), tc.enforce, tc.let)
		}
	}
}
