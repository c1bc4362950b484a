package allowlist

import (
	"net/netip"
	"testing"
)

func TestSpecHash(t *testing.T) {
	base := func() Spec {
		return Spec{
			Rules:         []Rule{{Name: "apple-push", Domains: []string{"*.push.apple.com"}, Ports: Ports{{5223, 5223}}, Persistent: true}},
			DefaultAction: Deny,
			Clients:       []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		}
	}
	h := base().Hash()
	if len(h) != 16 || h != base().Hash() {
		t.Fatalf("hash %q is not 16 hex digits or not stable (%q)", h, base().Hash())
	}
	changes := map[string]func(*Spec){
		"port":       func(s *Spec) { s.Rules[0].Ports = Ports{{443, 443}} },
		"persistent": func(s *Spec) { s.Rules[0].Persistent = false },
		"domain":     func(s *Spec) { s.Rules[0].Domains = []string{"*.apple.com"} },
		"tls":        func(s *Spec) { s.Rules[0].TLS = TLSOptional },
		"clients":    func(s *Spec) { s.Clients = nil },
		"deny_cidrs": func(s *Spec) { s.DenyCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} },
		"report":     func(s *Spec) { s.Report = true },
		"action":     func(s *Spec) { s.DefaultAction = Allow },
	}
	for name, change := range changes {
		s := base()
		change(&s)
		if s.Hash() == h {
			t.Errorf("changing %s keeps the hash %s", name, h)
		}
	}
}
