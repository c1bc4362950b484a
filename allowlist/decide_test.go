package allowlist

import (
	"fmt"
	"net/netip"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func ports(ss ...string) Ports {
	var ps Ports
	for _, s := range ss {
		r, err := ParsePortRange(s)
		if err != nil {
			panic(err)
		}
		ps = append(ps, r)
	}
	return ps
}

func testPolicy(t testing.TB, defaultAction Action) *Policy {
	t.Helper()
	p, err := Compile(Spec{
		Rules: []Rule{
			{Name: "apple-push", Domains: []string{"*.push.apple.com"}, CIDRs: prefixes("17.0.0.0/8", "2620:149:a44::/48"), Ports: ports("443", "5223"), Persistent: true},
			{Name: "fcm", Domains: []string{"mtalk.google.com", "alt5-mtalk.google.com"}, Ports: ports("443", "5228-5230"), Persistent: true},
			{Name: "apple-web", Domains: []string{"apple.com", "*.apple.com"}, Ports: ports("443")},
			{Name: "ocsp", Domains: []string{"ocsp.apple.com"}, Ports: ports("80"), TLS: TLSOptional},
			{Name: "onprem-mdm", Domains: []string{"mdm.school.lan"}, CIDRs: prefixes("10.1.2.3/32"), Ports: ports("8443")},
			{Name: "lan-wide", Domains: []string{"wide.school.lan"}, CIDRs: prefixes("10.0.0.0/7"), Ports: ports("8443")},
			{Name: "mapped", CIDRs: prefixes("::ffff:198.51.100.0/120"), Ports: ports("443")},
			{Name: "in-deny-range", CIDRs: prefixes("192.168.7.0/24"), Ports: ports("22")},
		},
		DefaultAction: defaultAction,
		Clients:       prefixes("127.0.0.0/8", "::1/128", "10.0.0.0/8"),
		DenyCIDRs:     DefaultDenyCIDRs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var client = netip.MustParseAddr("127.0.0.1")

func TestDecide(t *testing.T) {
	p := testPolicy(t, Deny)
	a := netip.MustParseAddr
	tests := []struct {
		name   string
		q      Query
		action Action
		rule   string
		reason Reason
	}{
		{"wildcard subdomain", Query{Name: "courier.push.apple.com", Port: 5223}, Splice, "apple-push", ReasonRule},
		{"numbered courier", Query{Name: "7-courier.push.apple.com", Port: 443}, Splice, "apple-push", ReasonRule},
		{"wildcard excludes the bare suffix", Query{Name: "push.apple.com", Port: 5223}, Deny, "", ReasonPortNotAllowed}, // only *.apple.com (443) names it
		{"label boundary", Query{Name: "evilpush.apple.com", Port: 5223}, Deny, "", ReasonPortNotAllowed},
		{"suffix attack", Query{Name: "push.apple.com.evil.net", Port: 5223}, Deny, "", ReasonNoRule},
		{"not a label suffix", Query{Name: "evilapple.com", Port: 443}, Deny, "", ReasonNoRule},
		{"exact", Query{Name: "mtalk.google.com", Port: 5229}, Splice, "fcm", ReasonRule},
		{"exact is not a wildcard", Query{Name: "x.mtalk.google.com", Port: 5229}, Deny, "", ReasonNoRule},
		{"port range ends", Query{Name: "alt5-mtalk.google.com", Port: 5230}, Splice, "fcm", ReasonRule},
		{"port outside range", Query{Name: "alt5-mtalk.google.com", Port: 5231}, Deny, "", ReasonPortNotAllowed},
		{"most specific rule on port wins", Query{Name: "x.push.apple.com", Port: 443}, Splice, "apple-push", ReasonRule},
		{"falls back to a wider wildcard for another port", Query{Name: "www.apple.com", Port: 443}, Splice, "apple-web", ReasonRule},
		{"exact rule, other port: wider wildcard", Query{Name: "ocsp.apple.com", Port: 443}, Splice, "apple-web", ReasonRule},
		{"exact rule, its port", Query{Name: "ocsp.apple.com", Port: 80}, Splice, "ocsp", ReasonRule},
		{"apple.com exact", Query{Name: "apple.com", Port: 443}, Splice, "apple-web", ReasonRule},
		{"client refused", Query{Client: a("192.0.2.1"), Name: "courier.push.apple.com", Port: 5223}, Deny, "", ReasonClientNotAllowed},
		{"IPv6 client refused", Query{Client: a("2001:db8::1"), Name: "courier.push.apple.com", Port: 5223}, Deny, "", ReasonClientNotAllowed},
		{"mapped client admitted", Query{Client: a("::ffff:10.9.9.9"), Name: "courier.push.apple.com", Port: 5223}, Splice, "apple-push", ReasonRule},
		{"no client", Query{Client: netip.Addr{}, Name: "courier.push.apple.com", Port: 5223}, Deny, "", ReasonClientNotAllowed},
		{"IP literal in rule CIDR", Query{Addr: a("17.57.146.20"), Port: 5223}, Splice, "apple-push", ReasonRule},
		{"IP literal, mapped", Query{Addr: a("::ffff:17.57.146.20"), Port: 5223}, Splice, "apple-push", ReasonRule},
		{"IP literal, wrong port", Query{Addr: a("17.57.146.20"), Port: 80}, Deny, "", ReasonPortNotAllowed},
		{"IPv6 literal in rule", Query{Addr: a("2620:149:a44::10"), Port: 5223}, Splice, "apple-push", ReasonRule},
		{"IPv6 literal outside", Query{Addr: a("2620:149:a45::10"), Port: 5223}, Deny, "", ReasonNoRule},
		{"IP literal in deny_cidrs", Query{Addr: a("127.0.0.1"), Port: 443}, Deny, "", ReasonDeniedAddress},
		{"metadata address", Query{Addr: a("169.254.169.254"), Port: 80}, Deny, "", ReasonDeniedAddress},
		{"IPv6 loopback", Query{Addr: a("::1"), Port: 443}, Deny, "", ReasonDeniedAddress},
		{"NAT64 embedding", Query{Addr: a("64:ff9b::a00:1"), Port: 443}, Deny, "", ReasonDeniedAddress},
		{"more specific allow beats deny", Query{Addr: a("10.1.2.3"), Port: 8443}, Splice, "onprem-mdm", ReasonRule},
		{"more specific allow, wrong port", Query{Addr: a("10.1.2.3"), Port: 443}, Deny, "", ReasonDeniedAddress},
		{"less specific allow loses to deny", Query{Addr: a("10.9.9.9"), Port: 8443}, Deny, "", ReasonDeniedAddress},
		{"allow at least as specific as deny", Query{Addr: a("192.168.7.9"), Port: 22}, Splice, "in-deny-range", ReasonRule},
		{"mapped prefix in config", Query{Addr: a("198.51.100.7"), Port: 443}, Splice, "mapped", ReasonRule},
		{"name resolved outside deny", Query{Name: "courier.push.apple.com", Addr: a("17.1.2.3"), Port: 5223}, Splice, "apple-push", ReasonRule},
		{"name resolved anywhere public", Query{Name: "courier.push.apple.com", Addr: a("203.0.113.9"), Port: 5223}, Splice, "apple-push", ReasonRule},
		{"name resolved into deny_cidrs", Query{Name: "courier.push.apple.com", Addr: a("127.0.0.1"), Port: 5223}, Deny, "apple-push", ReasonDeniedAddress},
		{"name resolved to mapped loopback", Query{Name: "courier.push.apple.com", Addr: a("::ffff:127.0.0.1"), Port: 5223}, Deny, "apple-push", ReasonDeniedAddress},
		{"on-prem name with its own CIDR", Query{Name: "mdm.school.lan", Addr: a("10.1.2.3"), Port: 8443}, Splice, "onprem-mdm", ReasonRule},
		{"on-prem name elsewhere in deny range", Query{Name: "mdm.school.lan", Addr: a("10.1.2.4"), Port: 8443}, Deny, "onprem-mdm", ReasonDeniedAddress},
		{"rule CIDR less specific than deny", Query{Name: "wide.school.lan", Addr: a("10.1.2.4"), Port: 8443}, Deny, "lan-wide", ReasonDeniedAddress},
		{"name does not borrow another rule's CIDR", Query{Name: "courier.push.apple.com", Addr: a("10.1.2.3"), Port: 5223}, Deny, "apple-push", ReasonDeniedAddress},
		{"SNI equal", Query{Name: "courier.push.apple.com", Port: 5223, SNI: "courier.push.apple.com"}, Splice, "apple-push", ReasonRule},
		{"SNI fronting", Query{Name: "courier.push.apple.com", Port: 5223, SNI: "www.apple.com"}, Deny, "apple-push", ReasonSNIMismatch},
		{"SNI on IP literal allowed", Query{Addr: a("17.57.146.20"), Port: 5223, SNI: "courier.push.apple.com"}, Splice, "apple-push", ReasonRule},
		{"SNI on IP literal not allowed", Query{Addr: a("17.57.146.20"), Port: 5223, SNI: "evil.example"}, Deny, "apple-push", ReasonSNINotAllowed},
		{"SNI on IP literal, other port", Query{Addr: a("17.57.146.20"), Port: 443, SNI: "ocsp.apple.com"}, Splice, "apple-push", ReasonRule},
		{"no target", Query{Port: 443}, Deny, "", ReasonBadTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.q.Client.IsValid() && tt.reason != ReasonClientNotAllowed {
				tt.q.Client = client
			}
			d := p.Decide(tt.q)
			if d.Action != tt.action || d.RuleName() != tt.rule || d.Reason != tt.reason {
				t.Errorf("Decide(%+v) = %v %q %v; want %v %q %v", tt.q, d.Action, d.RuleName(), d.Reason, tt.action, tt.rule, tt.reason)
			}
			if d.Explain(tt.q) == "" {
				t.Error("empty explanation")
			}
		})
	}
}

func TestDecideDefaultAllow(t *testing.T) {
	p := testPolicy(t, Allow)
	a := netip.MustParseAddr
	for _, tt := range []struct {
		q      Query
		action Action
		reason Reason
	}{
		{Query{Client: client, Name: "example.com", Port: 443}, Allow, ReasonDefault},
		{Query{Client: client, Name: "example.com", Addr: a("93.184.216.34"), Port: 443}, Allow, ReasonDefault},
		{Query{Client: client, Name: "example.com", Addr: a("10.0.0.1"), Port: 443}, Deny, ReasonDeniedAddress},
		{Query{Client: client, Addr: a("127.0.0.1"), Port: 443}, Deny, ReasonDeniedAddress},
		{Query{Client: a("192.0.2.1"), Name: "example.com", Port: 443}, Deny, ReasonClientNotAllowed},
		{Query{Client: client, Name: "courier.push.apple.com", Port: 5223}, Splice, ReasonRule},
	} {
		if d := p.Decide(tt.q); d.Action != tt.action || d.Reason != tt.reason {
			t.Errorf("Decide(%+v) = %v %v; want %v %v", tt.q, d.Action, d.Reason, tt.action, tt.reason)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, spec := range []Spec{
		{Rules: []Rule{{Name: "r", Domains: []string{"a.com"}}}},                         // no ports
		{Rules: []Rule{{Name: "r", Domains: []string{"a..com"}, Ports: ports("443")}}},   // bad domain
		{Rules: []Rule{{Name: "r", CIDRs: prefixes("10.1.2.3/8"), Ports: ports("443")}}}, // host bits
		{Rules: []Rule{{Name: "r", Domains: []string{"*.a.*"}, Ports: ports("443")}}},    // inner wildcard
		{DenyCIDRs: []netip.Prefix{{}}},                                                  // invalid prefix
		{Clients: prefixes("10.0.0.1/8")},                                                // host bits
	} {
		if _, err := Compile(spec); err == nil {
			t.Errorf("Compile(%+v) succeeded; want an error", spec)
		}
	}
}

func TestEmptyDenyListDeniesNothing(t *testing.T) {
	p, err := Compile(Spec{DefaultAction: Allow, Clients: prefixes("0.0.0.0/0", "::/0")})
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(Query{Client: client, Addr: netip.MustParseAddr("127.0.0.1"), Port: 80}); d.Action != Allow {
		t.Errorf("with no deny_cidrs, loopback got %v %v", d.Action, d.Reason)
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	p := testPolicy(t, Deny)
	for _, q := range []Query{
		{Client: client, Name: "courier.push.apple.com", Port: 5223, SNI: "courier.push.apple.com"},
		{Client: client, Name: "nothing.example.org", Port: 443},
		{Client: client, Addr: netip.MustParseAddr("2620:149:a44::10"), Port: 5223},
		{Client: client, Name: "mdm.school.lan", Addr: netip.MustParseAddr("10.1.2.3"), Port: 8443},
	} {
		if n := testing.AllocsPerRun(100, func() { p.Decide(q) }); n != 0 {
			t.Errorf("Decide(%+v) allocates %v times", q, n)
		}
	}
}

// bigSpec builds the scale issue 3 asks for: 10,000 rules holding 100,000 domains and 10,000 CIDRs.
func bigSpec() Spec {
	spec := Spec{Clients: prefixes("127.0.0.0/8"), DenyCIDRs: DefaultDenyCIDRs}
	for i := 0; i < 10000; i++ {
		r := Rule{Name: fmt.Sprintf("rule-%d", i), Ports: ports("443", "5223")}
		for j := 0; j < 10; j++ {
			if j%2 == 0 {
				r.Domains = append(r.Domains, fmt.Sprintf("*.svc%d-%d.vendor%d.example", j, i, i%97))
			} else {
				r.Domains = append(r.Domains, fmt.Sprintf("host%d-%d.vendor%d.example", j, i, i%97))
			}
		}
		if i%2 == 0 {
			r.CIDRs = append(r.CIDRs, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(20 + i%200), byte(i / 256), byte(i), 0}), 24))
		} else {
			r.CIDRs = append(r.CIDRs, netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x::/48", i)))
		}
		spec.Rules = append(spec.Rules, r)
	}
	return spec
}

func TestBigPolicy(t *testing.T) {
	p, err := Compile(bigSpec())
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(Query{Client: client, Name: "a.b.svc4-5000.vendor53.example", Port: 443}); d.RuleName() != "rule-5000" {
		t.Errorf("wildcard hit: %v %q", d.Action, d.RuleName())
	}
	if d := p.Decide(Query{Client: client, Addr: netip.MustParseAddr("2001:db8:1f3f::9"), Port: 5223}); d.RuleName() != "rule-7999" {
		t.Errorf("IPv6 hit: %v %q", d.Action, d.RuleName())
	}
}

func BenchmarkCompile(b *testing.B) {
	spec := bigSpec()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(spec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	p, err := Compile(bigSpec())
	if err != nil {
		b.Fatal(err)
	}
	cases := []decideCase{
		{"exact-hit", Query{Client: client, Name: "host3-4242.vendor71.example", Port: 443}},
		{"wildcard-hit", Query{Client: client, Name: "a.b.svc4-5000.vendor53.example", Port: 5223}},
		{"name-miss", Query{Client: client, Name: "www.nothing-here.example.org", Port: 443}},
		{"ipv4-hit", Query{Client: client, Addr: netip.MustParseAddr("120.19.100.7"), Port: 443}},
		{"ipv4-miss", Query{Client: client, Addr: netip.MustParseAddr("203.0.113.9"), Port: 443}},
		{"ipv6-hit", Query{Client: client, Addr: netip.MustParseAddr("2001:db8:1f3f::9"), Port: 443}},
		{"ipv6-miss", Query{Client: client, Addr: netip.MustParseAddr("2001:db9::1"), Port: 443}},
		{"name+addr+sni", Query{Client: client, Name: "a.svc4-5000.vendor53.example", Addr: netip.MustParseAddr("203.0.113.9"), Port: 443, SNI: "a.svc4-5000.vendor53.example"}},
	}
	benchDecide(b, p, cases)
}

// decideCase is one query of a Decide benchmark.
type decideCase struct {
	name string
	q    Query
}

// benchDecide runs one sub-benchmark per case, asking p the case's query.
func benchDecide(b *testing.B, p *Policy, cases []decideCase) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(c.q)
			}
		})
	}
}
