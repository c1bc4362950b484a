package config

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

func TestLoadRoles(t *testing.T) {
	c := mustLoad(t, `
clients: [10.0.0.0/8]
presets: [apple]
roles:
  server: [10.1.2.3/32]
  admin: [10.1.5.0/24]
rules:
  - name: lab-portal
    clients: [10.3.0.0/16]
    domains: [portal.example]
    ports: [443]
  - name: for-everyone
    domains: [www.example]
    ports: [443]
  - name: empty-clients-is-everyone
    clients: []
    domains: [empty.example]
    ports: [443]
`)
	if !slices.Equal(c.Roles.Server, []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32")}) ||
		!slices.Equal(c.Roles.Admin, []netip.Prefix{netip.MustParsePrefix("10.1.5.0/24")}) {
		t.Errorf("roles = %+v", c.Roles)
	}
	if r := c.Rules[0]; r.For != allowlist.ListedClients || !slices.Equal(r.Clients, []netip.Prefix{netip.MustParsePrefix("10.3.0.0/16")}) {
		t.Errorf("rule with clients = %+v", r)
	}
	for _, r := range c.Rules[1:] {
		if r.For != allowlist.Everyone || r.Clients != nil {
			t.Errorf("rule without clients, or with clients: [] = %+v", r)
		}
	}
	p, err := allowlist.Compile(c.PolicySpec())
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	for _, tt := range []struct {
		client, name string
		port         uint16
		rule         string
	}{
		{"10.1.2.3", "upload.appleschoolcontent.com", 22, "apple-device-management/school-manager-sftp"},
		{"10.200.0.9", "upload.appleschoolcontent.com", 22, ""},
		{"10.1.5.7", "identity.apple.com", 443, "apple-device-management/apns-certificate"},
		{"10.1.2.3", "identity.apple.com", 443, ""},
		{"10.3.9.9", "portal.example", 443, "lab-portal"},
		{"10.200.0.9", "portal.example", 443, ""},
		{"10.200.0.9", "www.example", 443, "for-everyone"},
		{"10.200.0.9", "empty.example", 443, "empty-clients-is-everyone"},
	} {
		d := p.Decide(allowlist.Query{Client: a(tt.client), Name: tt.name, Port: tt.port})
		if d.RuleName() != tt.rule || d.Allowed() != (tt.rule != "") {
			t.Errorf("%s to %s:%d: %s by %q, want %q", tt.client, tt.name, tt.port, d.Action, d.RuleName(), tt.rule)
		}
	}
}

func TestRolesFromEnvironment(t *testing.T) {
	c := mustLoad(t, "clients: [10.0.0.0/8]\n", "MDMPROXY_ROLES_SERVER=10.1.2.3/32,10.1.2.4/32", "MDMPROXY_ROLES_ADMIN=10.1.5.0/24")
	if len(c.Roles.Server) != 2 || len(c.Roles.Admin) != 1 {
		t.Errorf("roles from the environment = %+v", c.Roles)
	}
}
