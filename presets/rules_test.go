package presets

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

func ruleNames(rs []allowlist.Rule) []string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Name
	}
	return names
}

func TestRulesNamesAndFields(t *testing.T) {
	rs, err := Rules([]string{"apple-push"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"apple-push/courier", "apple-push/http", "apple-push/apns-addresses", "apple-push/apple-network"}
	if got := ruleNames(rs); !slices.Equal(got, want) {
		t.Fatalf("rule names = %v, want %v", got, want)
	}
	courier := rs[0]
	if !courier.Persistent || courier.TLS != allowlist.TLSRequired ||
		!slices.Equal(courier.Domains, []string{"*.push.apple.com"}) ||
		courier.Ports.String() != "5223,443" {
		t.Errorf("courier = %+v", courier)
	}
	if http := rs[1]; http.TLS != allowlist.TLSOptional || http.Persistent || http.Ports.String() != "80" {
		t.Errorf("http = %+v", http)
	}
	if !slices.Contains(rs[2].CIDRs, netip.MustParsePrefix("2620:149:a44::/48")) || len(rs[2].Domains) != 0 {
		t.Errorf("apns-addresses = %+v", rs[2])
	}
}

func TestRulesGroupsExpandOnce(t *testing.T) {
	rs, err := Rules([]string{"apple", "apple-push", "google"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, name := range []string{"apple-push", "apple-device-management", "apple-software-update", "apple-certificates",
		"google-fcm", "android-enterprise", "chromeos-management"} {
		p, _ := Get(name)
		want += len(p.Entries)
	}
	names := ruleNames(rs)
	if len(rs) != want {
		t.Errorf("%d rules, want %d: %v", len(rs), want, names)
	}
	if names[0] != "android-enterprise/play" {
		t.Errorf("first rule %q: rules come in the catalogue's order, whatever the order of names", names[0])
	}
	for _, n := range names {
		if !strings.Contains(n, "/") || strings.HasPrefix(n, "apple/") || strings.HasPrefix(n, "google/") {
			t.Errorf("rule %q is not named preset/entry after a member preset", n)
		}
	}
}

func TestRulesDisabled(t *testing.T) {
	rs, err := Rules([]string{"apple"}, []string{"apple-push/apple-network", "google-fcm/mtalk"})
	if err != nil {
		t.Fatal(err)
	}
	names := ruleNames(rs)
	if slices.Contains(names, "apple-push/apple-network") {
		t.Error("a disabled entry is still there")
	}
	if !slices.Contains(names, "apple-push/apns-addresses") || !slices.Contains(names, "apple-push/courier") {
		t.Errorf("disabling one entry removed others: %v", names)
	}
}

func TestRulesUnknownNames(t *testing.T) {
	_, err := Rules([]string{"apple-push", "aple-push", "google-fcm"}, []string{"apple-push/nope", "apple-push", "nope/courier", "apple/apple-push"})
	if err == nil {
		t.Fatal("no error for unknown names")
	}
	for _, name := range []string{`"aple-push"`, `"apple-push/nope"`, `"apple-push"`, `"nope/courier"`, `"apple/apple-push"`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if rs, err := Rules(nil, nil); err != nil || len(rs) != 0 {
		t.Errorf("Rules(nil, nil) = %v, %v", rs, err)
	}
}

// TestEveryPresetCompiles feeds every preset, and all of them at once, to the decision engine.
func TestEveryPresetCompiles(t *testing.T) {
	var all []string
	for _, p := range All() {
		all = append(all, p.Name)
		compile(t, []string{p.Name}, nil)
	}
	compile(t, all, nil)
}
