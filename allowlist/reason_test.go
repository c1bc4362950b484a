package allowlist

import (
	"net/netip"
	"regexp"
	"testing"
)

// Every reason has its own token, in the form SIEM rules match on.
func TestReasonTokens(t *testing.T) {
	seen := map[string]Reason{}
	token := regexp.MustCompile(`^[a-z][a-z_]*[a-z]$`)
	for _, r := range Reasons() {
		s := r.String()
		if !token.MatchString(s) {
			t.Errorf("reason %d: token %q", r, s)
		}
		if other, dup := seen[s]; dup {
			t.Errorf("reasons %d and %d share the token %q", other, r, s)
		}
		seen[s] = r
	}
	if Reason(255).String() != "unknown" {
		t.Errorf("an unknown reason is %q", Reason(255))
	}
}

// Report mode lets a refusal by policy through as allow, and keeps the client check and
// deny_cidrs.
func TestEnforcedInReportMode(t *testing.T) {
	spec := Spec{
		Rules: []Rule{{Name: "mdm", Domains: []string{"mdm.example"}, Ports: Ports{{Lo: 443, Hi: 443}}},
			{Name: "onprem", Domains: []string{"onprem.example"}, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32")}, Ports: Ports{{Lo: 443, Hi: 443}}}},
		Clients:   []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		DenyCIDRs: DefaultDenyCIDRs,
	}
	enforce, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.Report = true
	report, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	client := netip.MustParseAddr("192.0.2.7")
	public := netip.MustParseAddr("198.51.100.1")
	for _, tt := range []struct {
		name   string
		q      Query
		action Action
		reason Reason
	}{
		{"no rule, not resolved yet", Query{Client: client, Name: "other.example", Port: 443}, Allow, ReasonNoRule},
		{"no rule, public address", Query{Client: client, Name: "other.example", Addr: public, Port: 443}, Allow, ReasonNoRule},
		{"no rule, address in deny_cidrs", Query{Client: client, Name: "other.example", Addr: netip.MustParseAddr("10.0.0.1"), Port: 443}, Deny, ReasonDeniedAddress},
		{"port", Query{Client: client, Name: "mdm.example", Port: 80}, Allow, ReasonPortNotAllowed},
		{"sni mismatch", Query{Client: client, Name: "mdm.example", Port: 443, SNI: "other.example"}, Allow, ReasonSNIMismatch},
		{"sni mismatch, the rule's own address", Query{Client: client, Name: "onprem.example", Addr: netip.MustParseAddr("10.1.2.3"), Port: 443, SNI: "x.example"}, Allow, ReasonSNIMismatch},
		{"literal in deny_cidrs", Query{Client: client, Addr: netip.MustParseAddr("127.0.0.1"), Port: 443}, Deny, ReasonDeniedAddress},
		{"client", Query{Client: netip.MustParseAddr("203.0.113.1"), Name: "other.example", Port: 443}, Deny, ReasonClientNotAllowed},
		{"allowed stays", Query{Client: client, Name: "mdm.example", Port: 443}, Splice, ReasonRule},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := report.Enforced(tt.q, report.Decide(tt.q))
			if d.Action != tt.action || d.Reason != tt.reason {
				t.Errorf("report mode carries out %s/%s, want %s/%s", d.Action, d.Reason, tt.action, tt.reason)
			}
			e := enforce.Decide(tt.q)
			if got := enforce.Enforced(tt.q, e); got != e {
				t.Errorf("enforce mode changed %v into %v", e, got)
			}
		})
	}
}
