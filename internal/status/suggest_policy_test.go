package status

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/config"
	"github.com/mdmproxy/mdmproxy/internal/app"
)

// suggestedPolicy loads the suggestion for r as a configuration file, the way an admin would
// paste it, and compiles it.
func suggestedPolicy(t testing.TB, r refusal) (*allowlist.Policy, error) {
	snippet := suggestion(r)
	if snippet == "" {
		t.Fatalf("no suggestion for %+v", r.key)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(snippet), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.LoadOptions{Path: path, Env: []string{}})
	if err != nil {
		return nil, err
	}
	set, err := app.Settings(cfg)
	if err != nil {
		return nil, err
	}
	return set.Policy, nil
}

// splices reports whether pol splices r's target on port, as the proxy asks once it knows the
// address and the SNI.
func splices(pol *allowlist.Policy, r refusal, port uint16) bool {
	q := allowlist.Query{Client: netip.MustParseAddr("127.0.0.1"), Port: port}
	if a, err := netip.ParseAddr(r.key.host); err == nil {
		q.Addr = a
	} else {
		q.Name, q.Addr, q.SNI = r.key.host, r.addr, r.key.host
	}
	return pol.Decide(q).Action == allowlist.Splice
}

// TestSuggestionsAllow: each suggested snippet, loaded as a configuration, allows the target
// it was suggested for, and only on its port.
func TestSuggestionsAllow(t *testing.T) {
	public := netip.MustParseAddr("93.184.215.14")
	for _, r := range []refusal{
		{key: refusalKey{"blocked.example.com", 443, "no_rule"}, addr: public},
		{key: refusalKey{"mtalk.example.com", 5228, "port_not_allowed"}, addr: public},
		{key: refusalKey{"mdm.school.test", 8443, "denied_address"}, addr: netip.MustParseAddr("10.1.2.3")},
		{key: refusalKey{"10.1.2.3", 443, "denied_address"}, addr: netip.MustParseAddr("10.1.2.3")},
		{key: refusalKey{"2001:db8::1", 443, "no_rule"}},
		{key: refusalKey{"xn--bcher-kva.example", 443, "sni_not_allowed"}, addr: public},
	} {
		pol, err := suggestedPolicy(t, r)
		if err != nil || !splices(pol, r, r.key.port) {
			t.Errorf("%s:%d %s: the suggestion does not allow it (%v):\n%s", r.key.host, r.key.port, r.key.reason, err, suggestion(r))
			continue
		}
		if splices(pol, r, r.key.port+1) {
			t.Errorf("%s:%d %s: the suggestion allows port %d too:\n%s", r.key.host, r.key.port, r.key.reason, r.key.port+1, suggestion(r))
		}
	}
}

// FuzzSuggestion: for any name the proxy could have refused, the suggestion is a valid
// configuration that allows it.
func FuzzSuggestion(f *testing.F) {
	f.Add("blocked.example.com", uint16(443))
	f.Add("a-b.c0.example", uint16(5223))
	f.Add("10.0.0.1", uint16(8080))
	f.Fuzz(func(t *testing.T, host string, port uint16) {
		name, err := allowlist.NormalizeName(host)
		if err != nil || port == 0 {
			return
		}
		r := refusal{key: refusalKey{name, port, "no_rule"}, addr: netip.MustParseAddr("93.184.215.14")}
		pol, err := suggestedPolicy(t, r)
		if err != nil || !splices(pol, r, port) {
			t.Errorf("%s:%d: the suggestion does not allow it (%v):\n%s", name, port, err, suggestion(r))
		}
	})
}
