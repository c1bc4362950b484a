package pac_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/internal/pacengine"
	"github.com/mdmproxy/mdmproxy/proxy/pac"
)

const (
	testProxy    = "mdmproxy.school.lan:3128"
	testUpstream = "filter.school.lan:8080"
)

func ports(rs ...allowlist.PortRange) allowlist.Ports { return rs }

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// testPolicy has wildcards and exact names, a name that is also a wildcard's base, IPv4 and
// IPv6 CIDRs, and an on-premises server whose name and address pac.direct covers too.
func testPolicy(t testing.TB) *allowlist.Policy {
	t.Helper()
	p, err := allowlist.Compile(allowlist.Spec{
		Rules: []allowlist.Rule{
			{Name: "apple", Domains: []string{"*.push.apple.com", "Gateway.iCloud.com."}, CIDRs: prefixes("17.0.0.0/8", "2620:149::/32"), Ports: ports(allowlist.PortRange{Lo: 443, Hi: 443}, allowlist.PortRange{Lo: 5223, Hi: 5223})},
			{Name: "jamf", Domains: []string{"*.jamfcloud.com", "jamfcloud.com"}, Ports: ports(allowlist.PortRange{Lo: 443, Hi: 443})},
			{Name: "fcm", Domains: []string{"mtalk.google.com", "bücher.example"}, CIDRs: prefixes("2404:6800:4003::/48"), Ports: ports(allowlist.PortRange{Lo: 5228, Hi: 5230})},
			{Name: "onprem", Domains: []string{"mdm.school.lan"}, CIDRs: prefixes("10.1.2.3/32"), Ports: ports(allowlist.PortRange{Lo: 8443, Hi: 8443})},
		},
		Clients:   prefixes("127.0.0.0/8"),
		DenyCIDRs: allowlist.DefaultDenyCIDRs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var testDirect = []string{"*.school.lan", "10.0.0.0/8", "fd00::/8"}

// testHosts are what browsers pass as the host: any case, a trailing dot, brackets.
var testHosts = []string{
	// Wildcards: names below the suffix, never the suffix itself or a look-alike.
	"courier.push.apple.com", "Courier.Push.Apple.COM", "1-courier.push.apple.com.", "a.b.c.push.apple.com",
	"push.apple.com", "xpush.apple.com", "evilpush.apple.com", "push.apple.com.evil.net", "apple.com", "evilapple.com",
	"push.apple.co", "courier.push.apple.com..",
	// Exact names: the name only.
	"gateway.icloud.com", "GATEWAY.ICLOUD.COM.", "x.gateway.icloud.com", "gateway.icloud.com.evil.net", "xgateway.icloud.com",
	"mtalk.google.com", "MTALK.google.com.", "mtalk2.google.com", "xn--bcher-kva.example", "XN--BCHER-KVA.example.",
	// A wildcard and its base.
	"jamfcloud.com", "school.jamfcloud.com", "a.school.jamfcloud.com", "jamfcloud.com.evil.net", "evil-jamfcloud.com",
	// pac.direct wins, plain names are DIRECT.
	"mdm.school.lan", "printer.school.lan", "school.lan", "localhost", "intranet", "INTRANET.",
	// IP literals in and out of CIDR rules and pac.direct.
	"17.0.0.1", "17.255.255.255", "16.255.255.255", "18.0.0.0", "10.1.2.3", "10.9.9.9", "192.168.1.1", "127.0.0.1",
	"2620:149::1", "[2620:149:a44::1]", "2620:14a::1", "2404:6800:4003:c00::bc", "2404:6800:4004::1",
	"::ffff:17.1.2.3", "[::ffff:18.1.2.3]", "fd00::5", "fe80::1", "2620:0149:0000::1", "2620:149:0:0:0:0:0:1",
	"2620:149::17.1.2.3", "2620:149::1.300.1.1", "2620:149::1::2", "::", "2620:149::1%eth0",
	// Numbers that are not the canonical dotted quad are names to the proxy.
	"017.1.2.3", "17.1.2.3.", "17.1.2", "1.2.3.4.5",
	// Everything else.
	"example.com", "www.example.com",
}

// expectRoute is what the PAC must answer for host, from the decision function: plain host
// names and pac.direct (decided by the same function over a policy of pac.direct's entries)
// go DIRECT; a host that Policy.Decide splices on one of the rules' ports is an MDM
// destination; the rest goes the rest's way.
func expectRoute(t *testing.T, pol, direct *allowlist.Policy, host, mdm, rest string) string {
	target := host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		target = "[" + host + "]"
	}
	tg, err := allowlist.ParseTarget(target + ":443")
	if err != nil {
		return rest // not a name or an address the proxy would accept
	}
	if tg.Name != "" && !strings.Contains(tg.Name, ".") {
		return "DIRECT"
	}
	splices := func(p *allowlist.Policy, port uint16) bool {
		d := p.Decide(allowlist.Query{Client: netip.MustParseAddr("127.0.0.1"), Name: tg.Name, Addr: tg.Addr, Port: port})
		return d.Action == allowlist.Splice
	}
	if splices(direct, 443) {
		return "DIRECT"
	}
	for _, r := range pol.Rules() {
		for _, pr := range r.Ports {
			if splices(pol, pr.Lo) {
				return mdm
			}
		}
	}
	return rest
}

// directPolicy holds pac.direct's entries as one rule on every port.
func directPolicy(t *testing.T, entries []string) *allowlist.Policy {
	r := allowlist.Rule{Name: "pac.direct", Ports: ports(allowlist.PortRange{Lo: 1, Hi: 65535})}
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			r.CIDRs = append(r.CIDRs, p)
		} else {
			r.Domains = append(r.Domains, e)
		}
	}
	p, err := allowlist.Compile(allowlist.Spec{Rules: []allowlist.Rule{r}, Clients: prefixes("0.0.0.0/0", "::/0")})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEquivalence evaluates the served file in pacparser for every test host and compares
// each route with what the decision function says, for inline tests and lookup tables and
// for routes that tell MDM destinations, pac.direct and the rest apart.
func TestEquivalence(t *testing.T) {
	pol := testPolicy(t)
	direct := directPolicy(t, testDirect)
	for _, tc := range []struct {
		name      string
		mdm, rest pac.Route
		inlineMax int
		wantMDM   string
		wantRest  string
	}{
		{"inline, mdm proxy, rest direct", pac.Proxy, pac.Direct, 0, "PROXY " + testProxy, "DIRECT"},
		{"tables, mdm proxy, rest direct", pac.Proxy, pac.Direct, -1, "PROXY " + testProxy, "DIRECT"},
		{"inline, mdm direct, rest upstream", pac.Direct, pac.Upstream, 0, "DIRECT", "PROXY " + testUpstream},
		{"tables, mdm direct, rest upstream", pac.Direct, pac.Upstream, -1, "DIRECT", "PROXY " + testUpstream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := pac.Generate(pac.Options{Policy: pol, MDM: tc.mdm, Rest: tc.rest, Upstream: testUpstream, Direct: testDirect, InlineMax: tc.inlineMax})
			if err != nil {
				t.Fatal(err)
			}
			// The file as a device fetches it.
			h := &pac.Handler{}
			if err := h.Update(f, pol, testProxy); err != nil {
				t.Fatal(err)
			}
			served := fetch(t, "GET", serveHandler(t, h)+"/proxy.pac", "")
			if served.status != 200 {
				t.Fatalf("GET /proxy.pac: %d %s", served.status, served.body)
			}
			script := []byte(served.body)
			if tables := strings.Contains(string(script), "function inNames("); tables != (tc.inlineMax < 0) {
				t.Errorf("lookup tables written: %v, want %v", tables, tc.inlineMax < 0)
			}
			res, err := pacengine.Eval(context.Background(), script, testHosts, 1)
			if err != nil {
				t.Fatal(err)
			}
			mdmSeen, restSeen := 0, 0
			for i, h := range testHosts {
				want := expectRoute(t, pol, direct, h, tc.wantMDM, tc.wantRest)
				if res.Routes[i] != want {
					t.Errorf("%-28q PAC %q, decision function %q", h, res.Routes[i], want)
				}
				switch want {
				case tc.wantMDM:
					mdmSeen++
				case tc.wantRest:
					restSeen++
				}
			}
			if mdmSeen < 10 || restSeen < 10 {
				t.Errorf("the table exercises too little: %d MDM hosts, %d others", mdmSeen, restSeen)
			}
			if t.Failed() {
				t.Logf("the script:\n%s", script)
			}
		})
	}
}
