package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

func TestPresetsReachThePolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte(`presets: [apple-push, google-fcm]
presets_disabled: [apple-push/apple-network]
rules:
  - name: courier-override
    domains: [courier.push.apple.com]
    ports: [5223]
`), 0o600)
	c, err := Load(LoadOptions{Path: path, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := allowlist.Compile(c.PolicySpec())
	if err != nil {
		t.Fatal(err)
	}
	client := netip.MustParseAddr("127.0.0.1")
	for _, tt := range []struct {
		q    allowlist.Query
		rule string
	}{
		// The admin's exact rule comes first for its port; preset entries cover the rest.
		{allowlist.Query{Client: client, Name: "courier.push.apple.com", Port: 5223}, "courier-override"},
		{allowlist.Query{Client: client, Name: "7-courier.push.apple.com", Port: 5223}, "apple-push/courier"},
		{allowlist.Query{Client: client, Name: "alt5-mtalk.google.com", Port: 5229}, "google-fcm/mtalk"},
		// apple-push/apple-network (17.0.0.0/8) is disabled: an address outside Apple's APNs ranges is refused.
		{allowlist.Query{Client: client, Addr: netip.MustParseAddr("17.1.2.3"), Port: 5223}, ""},
	} {
		d := p.Decide(tt.q)
		if d.RuleName() != tt.rule {
			t.Errorf("Decide(%+v) = %v by %q; want rule %q", tt.q, d.Action, d.RuleName(), tt.rule)
		}
	}
}
