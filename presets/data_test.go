package presets

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestDataValid checks the embedded data: parsable, canonical CIDRs and ports, well-formed
// lower-case domains, no duplicate entries or (destination, port) pairs within a preset, a
// source and a date on every entry, and groups whose members exist.
func TestDataValid(t *testing.T) {
	ps, err := load()
	if err != nil {
		t.Fatalf("loading data/: %v", err)
	}
	err = validate(ps)
	if err == nil {
		return
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			t.Error(e)
		}
		return
	}
	t.Error(err)
}

// TestRequiredPresets pins the catalogue the issue asks for.
func TestRequiredPresets(t *testing.T) {
	want := []string{
		"apple-push", "apple-push-provider", "apple-push-legacy", "apple-device-management",
		"apple-software-update", "apple-certificates", "google-fcm", "android-enterprise",
		"chromeos-management", "microsoft-intune", "jamf-pro", "kandji", "zenworks", "capainstaller",
		"apple", "google",
	}
	for _, region := range []string{"us", "us-stage", "uk", "ca", "de", "au", "jp", "sg", "in"} {
		want = append(want, "workspace-one-assist-"+region)
	}
	for _, name := range want {
		if _, ok := Get(name); !ok {
			t.Errorf("preset %q is missing", name)
		}
	}
	groups := map[string][]string{
		"apple":  {"apple-push", "apple-device-management", "apple-software-update", "apple-certificates"},
		"google": {"google-fcm", "android-enterprise", "chromeos-management"},
	}
	for name, members := range groups {
		p, _ := Get(name)
		if !slices.Equal(p.Group, members) || len(p.Entries) != 0 {
			t.Errorf("group %s = %v with %d entries, want %v and none", name, p.Group, len(p.Entries), members)
		}
	}
	for _, p := range All() {
		legacy := strings.HasSuffix(p.Name, "-legacy")
		if p.Legacy != legacy {
			t.Errorf("%s: legacy = %v; legacy presets, and only they, are named *-legacy", p.Name, p.Legacy)
		}
	}
}

func TestAllSortedAndGetCopies(t *testing.T) {
	all := All()
	if !slices.IsSortedFunc(all, func(a, b Preset) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("All is not sorted by name")
	}
	p, ok := Get("apple-push")
	if !ok || p.Vendor != "Apple" {
		t.Fatalf("Get(apple-push) = %+v, %v", p, ok)
	}
	p.Entries[0].Domains[0] = "changed.example"
	p.Entries[0].Name = "changed"
	again, _ := Get("apple-push")
	if again.Entries[0].Domains[0] == "changed.example" || again.Entries[0].Name == "changed" {
		t.Error("changing Get's result changed the catalogue")
	}
	if _, ok := Get("no-such-preset"); ok {
		t.Error("Get found a preset that does not exist")
	}
}

// TestValidateCatches proves that validate reports each kind of defect, so that TestDataValid
// passing means something.
func TestValidateCatches(t *testing.T) {
	good := func() []Preset {
		return []Preset{
			{Name: "p", Vendor: "V", Description: "A preset.", Entries: []Entry{
				{Name: "a", Domains: []string{"*.push.apple.com"}, CIDRs: []string{"17.0.0.0/8"}, Ports: []string{"443", "5223"},
					Direction: "device", Persistent: true, Purpose: "Push.", Sources: []string{"https://support.apple.com/102266"}, Read: "2026-11-23"},
				{Name: "b", Domains: []string{"ocsp.apple.com"}, Ports: []string{"80"}, Direction: "device", TLS: "optional",
					Purpose: "OCSP.", Sources: []string{"https://support.apple.com/HT210060"}, Read: "2026-11-23"},
			}},
			{Name: "g", Vendor: "V", Description: "A group.", Group: []string{"p"}},
		}
	}
	if err := validate(good()); err != nil {
		t.Fatalf("the good catalogue is refused: %v", err)
	}
	tests := []struct {
		name   string
		change func(ps []Preset)
		want   string
	}{
		{"cidr does not parse", func(ps []Preset) { ps[0].Entries[0].CIDRs[0] = "17.0.0/8" }, "cidr"},
		{"cidr has host bits", func(ps []Preset) { ps[0].Entries[0].CIDRs[0] = "17.1.0.0/8" }, "not canonical"},
		{"cidr is not canonical text", func(ps []Preset) { ps[0].Entries[0].CIDRs[0] = "2620:149:A44::/48" }, "not canonical"},
		{"cidr is IPv4-mapped", func(ps []Preset) { ps[0].Entries[0].CIDRs[0] = "::ffff:17.0.0.0/104" }, "not canonical"},
		{"port out of range", func(ps []Preset) { ps[0].Entries[0].Ports[0] = "70000" }, "port"},
		{"port range backwards", func(ps []Preset) { ps[0].Entries[0].Ports[0] = "5230-5228" }, "port"},
		{"port not canonical", func(ps []Preset) { ps[0].Entries[0].Ports[0] = "0443" }, "canonical"},
		{"no ports", func(ps []Preset) { ps[0].Entries[0].Ports = nil }, "needs ports"},
		{"wildcard without dot", func(ps []Preset) { ps[0].Entries[0].Domains[0] = "*push.apple.com" }, "wildcard"},
		{"wildcard inside", func(ps []Preset) { ps[0].Entries[0].Domains[0] = "courier.*.apple.com" }, "wildcard"},
		{"upper-case domain", func(ps []Preset) { ps[0].Entries[0].Domains[0] = "Courier.push.apple.com" }, "canonical"},
		{"trailing dot", func(ps []Preset) { ps[0].Entries[0].Domains[0] = "courier.push.apple.com." }, "canonical"},
		{"address as domain", func(ps []Preset) { ps[0].Entries[0].Domains[0] = "17.1.2.3" }, "cidrs"},
		{"no destinations", func(ps []Preset) { ps[0].Entries[1].Domains = nil }, "needs domains or cidrs"},
		{"domain twice in an entry", func(ps []Preset) {
			ps[0].Entries[0].Domains = append(ps[0].Entries[0].Domains, "*.push.apple.com")
		}, "listed twice"},
		{"same domain and port in two entries", func(ps []Preset) {
			ps[0].Entries[1].Domains[0] = "*.push.apple.com"
			ps[0].Entries[1].Ports = []string{"1-100", "5000-5300"}
			ps[0].Entries[1].TLS = "optional"
		}, "also in entry a"},
		{"same prefix and port in two entries", func(ps []Preset) {
			ps[0].Entries[1].CIDRs = []string{"17.0.0.0/8"}
			ps[0].Entries[1].Ports = []string{"5223"}
			ps[0].Entries[1].TLS = ""
		}, "also in entry a"},
		{"entry name twice", func(ps []Preset) { ps[0].Entries[1].Name = "a" }, "used twice"},
		{"entry name not a slug", func(ps []Preset) { ps[0].Entries[1].Name = "OCSP check" }, "entry name"},
		{"no source", func(ps []Preset) { ps[0].Entries[0].Sources = nil }, "source"},
		{"source not a URL", func(ps []Preset) { ps[0].Entries[0].Sources[0] = "Apple HT210060" }, "not an http(s) URL"},
		{"no date", func(ps []Preset) { ps[0].Entries[0].Read = "" }, "not a date"},
		{"bad date", func(ps []Preset) { ps[0].Entries[0].Read = "23/11/2026" }, "not a date"},
		{"bad direction", func(ps []Preset) { ps[0].Entries[0].Direction = "outbound" }, "direction"},
		{"bad tls", func(ps []Preset) { ps[0].Entries[0].TLS = "none" }, "tls"},
		{"port 80 needs tls optional", func(ps []Preset) { ps[0].Entries[1].TLS = "" }, "port 80"},
		{"tls optional on 443", func(ps []Preset) { ps[0].Entries[1].Ports = []string{"80", "443"} }, "443"},
		{"no purpose", func(ps []Preset) { ps[0].Entries[0].Purpose = "" }, "purpose"},
		{"markdown outside code", func(ps []Preset) { ps[0].Entries[0].Note = "covers *.push.apple.com" }, "outside `code`"},
		{"no entries", func(ps []Preset) { ps[0].Entries = nil }, "neither entries nor group"},
		{"group member missing", func(ps []Preset) { ps[1].Group = []string{"p", "q"} }, `member "q" does not exist`},
		{"group of a group", func(ps []Preset) { ps[1].Group = []string{"g"} }, "is a group"},
		{"group with entries", func(ps []Preset) { ps[1].Entries = ps[0].Entries }, "members only"},
		{"group of a legacy preset", func(ps []Preset) { ps[0].Legacy = true }, "legacy"},
		{"preset name not a slug", func(ps []Preset) { ps[0].Name = "Apple Push" }, "lower-case"},
		{"probe not under the entry's domains", func(ps []Preset) {
			ps[0].Entries[0].Probe = &Probe{Name: "courier.apple.com", Source: "https://example.com/doc"}
		}, "not matched by the entry's domains"},
		{"probe is a wildcard", func(ps []Preset) {
			ps[0].Entries[0].Probe = &Probe{Name: "*.push.apple.com", Source: "https://example.com/doc"}
		}, "exact name"},
		{"probe without a source", func(ps []Preset) {
			ps[0].Entries[0].Probe = &Probe{Name: "1-courier.push.apple.com"}
		}, "source"},
		{"two presets disagree on persistent", func(ps []Preset) {
			ps[1] = Preset{Name: "q", Vendor: "V", Description: "Another.", Entries: []Entry{
				{Name: "c", CIDRs: []string{"17.0.0.0/8"}, Ports: []string{"443-444"}, Direction: "server",
					Purpose: "Provider.", Sources: []string{"https://support.apple.com/102266"}, Read: "2026-11-30"}}}
		}, "p/a and q/c both allow 17.0.0.0/8 on port 443 but disagree on persistent (true, false)"},
		{"two presets disagree on tls", func(ps []Preset) {
			ps[1] = Preset{Name: "q", Vendor: "V", Description: "Another.", Entries: []Entry{
				{Name: "c", Domains: []string{"*.push.apple.com"}, Ports: []string{"5223"}, Direction: "device", Persistent: true,
					TLS: "optional", Purpose: "Push.", Sources: []string{"https://support.apple.com/102266"}, Read: "2026-11-30"}}}
		}, "disagree on persistent (true, true) or tls (required, optional)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := good()
			tt.change(ps)
			err := validate(ps)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseVendorFileStrict(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown key":   "vendor: V\npresets:\n  - name: p\n    description: d\n    entries:\n      - name: a\n        domain: [x.example]\n",
		"no vendor":     "presets: []\n",
		"two documents": "vendor: V\npresets: []\n---\nvendor: W\n",
	} {
		if _, err := parseVendorFile([]byte(doc)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
	vf, err := parseVendorFile([]byte("vendor: V\npresets:\n  - name: p\n    entries:\n      - name: a\n        ports: [443, 5228-5230]\n        read: 2026-11-23\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := vf.Presets[0].Entries[0]
	if !slices.Equal(e.Ports, []string{"443", "5228-5230"}) || e.Read != "2026-11-23" {
		t.Errorf("unquoted ports and date decoded as %q and %q", e.Ports, e.Read)
	}
}
