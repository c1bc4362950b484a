package allowlist

import (
	"net/netip"
	"strings"
	"testing"
)

// rolesPolicy has a server-only and an admin-only rule beside rules for everyone, and an admin
// rule limited to its own clients.
func rolesPolicy(t testing.TB, roles Roles) *Policy {
	t.Helper()
	p, err := Compile(Spec{
		Rules: []Rule{
			{Name: "lab-only", Domains: []string{"lab.example"}, Ports: ports("443"), For: ListedClients, Clients: prefixes("10.3.0.0/16", "::ffff:10.4.0.0/112")},
			{Name: "sftp", Domains: []string{"upload.example"}, Ports: ports("22"), TLS: TLSOptional, For: ServerRole},
			{Name: "provider", Domains: []string{"api.push.example"}, CIDRs: prefixes("17.0.0.0/8"), Ports: ports("443", "2197"), Persistent: true, For: ServerRole},
			{Name: "portal", Domains: []string{"portal.example", "*.portal.example"}, Ports: ports("443", "80"), For: AdminRole},
			{Name: "device", Domains: []string{"api.push.example", "*.push.example"}, CIDRs: prefixes("17.0.0.0/8"), Ports: ports("443", "5223")},
		},
		Clients:   prefixes("10.0.0.0/8", "127.0.0.0/8"),
		DenyCIDRs: DefaultDenyCIDRs,
		Roles:     roles,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	serverAddr  = netip.MustParseAddr("10.1.2.3")
	adminAddr   = netip.MustParseAddr("10.1.5.7")
	studentAddr = netip.MustParseAddr("10.200.0.9")
	labAddr     = netip.MustParseAddr("10.3.1.1")
)

func TestDecideRoles(t *testing.T) {
	p := rolesPolicy(t, Roles{Server: prefixes("10.1.2.3/32"), Admin: prefixes("10.1.5.0/24")})
	a := netip.MustParseAddr
	tests := []struct {
		name   string
		q      Query
		action Action
		rule   string
		reason Reason
	}{
		{"server reaches sftp", Query{Client: serverAddr, Name: "upload.example", Port: 22}, Splice, "sftp", ReasonRule},
		{"student does not: the rule does not exist for it", Query{Client: studentAddr, Name: "upload.example", Port: 22}, Deny, "", ReasonNoRule},
		{"admin is not the server", Query{Client: adminAddr, Name: "upload.example", Port: 22}, Deny, "", ReasonNoRule},
		{"IPv4-mapped server address", Query{Client: a("::ffff:10.1.2.3"), Name: "upload.example", Port: 22}, Splice, "sftp", ReasonRule},
		{"admin reaches the portal", Query{Client: adminAddr, Name: "x.portal.example", Port: 80}, Splice, "portal", ReasonRule},
		{"student does not reach the portal", Query{Client: studentAddr, Name: "portal.example", Port: 443}, Deny, "", ReasonNoRule},
		{"server gets the first rule for it", Query{Client: serverAddr, Name: "api.push.example", Port: 443}, Splice, "provider", ReasonRule},
		{"a device falls through to the device rule", Query{Client: studentAddr, Name: "api.push.example", Port: 443}, Splice, "device", ReasonRule},
		{"device rule's port for a device", Query{Client: studentAddr, Name: "api.push.example", Port: 5223}, Splice, "device", ReasonRule},
		{"provider port is not the device's", Query{Client: studentAddr, Name: "api.push.example", Port: 2197}, Deny, "", ReasonPortNotAllowed},
		{"provider port for the server", Query{Client: serverAddr, Name: "api.push.example", Port: 2197}, Splice, "provider", ReasonRule},
		{"address: server rule first", Query{Client: serverAddr, Addr: a("17.1.2.3"), Port: 2197}, Splice, "provider", ReasonRule},
		{"address: device rule for others", Query{Client: studentAddr, Addr: a("17.1.2.3"), Port: 443}, Splice, "device", ReasonRule},
		{"address: no provider port for others", Query{Client: studentAddr, Addr: a("17.1.2.3"), Port: 2197}, Deny, "", ReasonPortNotAllowed},
		{"SNI allowed only by a rule not for the client", Query{Client: studentAddr, Addr: a("17.1.2.3"), Port: 443, SNI: "x.portal.example"}, Deny, "device", ReasonSNINotAllowed},
		{"SNI allowed by a rule for the client", Query{Client: adminAddr, Addr: a("17.1.2.3"), Port: 443, SNI: "x.portal.example"}, Splice, "device", ReasonRule},
		{"listed client", Query{Client: labAddr, Name: "lab.example", Port: 443}, Splice, "lab-only", ReasonRule},
		{"listed through an IPv4-mapped prefix", Query{Client: a("10.4.0.1"), Name: "lab.example", Port: 443}, Splice, "lab-only", ReasonRule},
		{"unlisted client", Query{Client: studentAddr, Name: "lab.example", Port: 443}, Deny, "", ReasonNoRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.q)
			if d.Action != tt.action || d.RuleName() != tt.rule || d.Reason != tt.reason {
				t.Errorf("Decide = %s %q %s, want %s %q %s", d.Action, d.RuleName(), d.Reason, tt.action, tt.rule, tt.reason)
			}
		})
	}
}

func TestDecideRolesEmptyMeansNobody(t *testing.T) {
	p := rolesPolicy(t, Roles{})
	for _, c := range []netip.Addr{serverAddr, adminAddr, studentAddr, netip.MustParseAddr("127.0.0.1")} {
		if d := p.Decide(Query{Client: c, Name: "upload.example", Port: 22}); d.Allowed() {
			t.Errorf("%s reaches a server rule with roles.server empty: %s %s", c, d.Action, d.RuleName())
		}
		if d := p.Decide(Query{Client: c, Name: "portal.example", Port: 443}); d.Allowed() {
			t.Errorf("%s reaches an admin rule with roles.admin empty: %s %s", c, d.Action, d.RuleName())
		}
	}
}

func TestCompileRolesErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"rule for listed clients without clients", Spec{Rules: []Rule{{Name: "x", Domains: []string{"a.example"}, Ports: ports("443"), For: ListedClients}}}, `rule "x": clients is empty`},
		{"host bits in a rule's clients", Spec{Rules: []Rule{{Name: "x", Domains: []string{"a.example"}, Ports: ports("443"), For: ListedClients, Clients: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/16")}}}}, `rule "x": clients: prefix 10.1.2.3/16 has host bits set`},
		{"host bits in roles.server", Spec{Roles: Roles{Server: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/24")}}}, "roles.server: prefix 10.1.2.3/24"},
		{"invalid prefix in roles.admin", Spec{Roles: Roles{Admin: []netip.Prefix{{}}}}, "roles.admin: invalid prefix"},
		{"unknown audience", Spec{Rules: []Rule{{Name: "x", Domains: []string{"a.example"}, Ports: ports("443"), For: Audience(9)}}}, "unknown audience audience(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRuleScope(t *testing.T) {
	p := rolesPolicy(t, Roles{Server: prefixes("::ffff:10.1.2.3/128")})
	for _, r := range p.Rules() {
		switch r.Name {
		case "sftp":
			if s := r.Scope(); len(s) != 1 || s[0] != netip.MustParsePrefix("10.1.2.3/32") {
				t.Errorf("sftp scope = %v, want the canonical roles.server", s)
			}
		case "device":
			if r.Scope() != nil {
				t.Errorf("a rule for everyone has scope %v", r.Scope())
			}
		}
	}
}

func TestDecideRolesDoesNotAllocate(t *testing.T) {
	p := rolesPolicy(t, Roles{Server: prefixes("10.1.2.3/32"), Admin: prefixes("10.1.5.0/24")})
	for _, q := range []Query{
		{Client: serverAddr, Name: "upload.example", Port: 22},
		{Client: studentAddr, Name: "api.push.example", Port: 443},
		{Client: studentAddr, Addr: netip.MustParseAddr("17.1.2.3"), Port: 443, SNI: "x.portal.example"},
		{Client: labAddr, Name: "lab.example", Port: 443},
	} {
		if n := testing.AllocsPerRun(100, func() { p.Decide(q) }); n != 0 {
			t.Errorf("Decide(%+v) allocates %v times", q, n)
		}
	}
}

// BenchmarkDecideScoped is BenchmarkDecide's scale with every other rule for roles.server: a
// hit by the server, and a student skipping the server's rule to the rule for everyone below it.
func BenchmarkDecideScoped(b *testing.B) {
	spec := bigSpec()
	spec.Clients = prefixes("127.0.0.0/8", "10.0.0.0/8")
	spec.Roles = Roles{Server: prefixes("10.1.2.3/32", "10.1.2.4/32", "10.9.0.0/16")}
	for i := range spec.Rules {
		if i%2 == 1 {
			spec.Rules[i].For = ServerRole
		}
	}
	// A rule for everyone under the same wildcard as a server rule.
	spec.Rules = append(spec.Rules, Rule{Name: "everyone", Domains: []string{"*.vendor53.example"}, Ports: ports("443")})
	p, err := Compile(spec)
	if err != nil {
		b.Fatal(err)
	}
	cases := []decideCase{
		{"server-exact-hit", Query{Client: serverAddr, Name: "host3-4243.vendor72.example", Port: 443}},
		{"student-exact-fallthrough", Query{Client: studentAddr, Name: "host3-4243.vendor72.example", Port: 443}},
		{"student-wildcard-fallthrough", Query{Client: studentAddr, Name: "a.svc4-5001.vendor53.example", Port: 443}},
		{"server-ipv6-hit", Query{Client: serverAddr, Addr: netip.MustParseAddr("2001:db8:1f3f::9"), Port: 443}},
	}
	benchDecide(b, p, cases)
}
