package pac_test

import (
	"strings"
	"testing"

	"github.com/mdmproxy/mdmproxy/proxy/pac"
)

func TestGenerateRefuses(t *testing.T) {
	pol := testPolicy(t)
	for _, tc := range []struct {
		name string
		o    pac.Options
		want string
	}{
		{"no policy", pac.Options{}, "no policy"},
		{"mdm upstream", pac.Options{Policy: pol, MDM: pac.Upstream}, "not upstream"},
		{"rest upstream without address", pac.Options{Policy: pol, Rest: pac.Upstream}, "upstream"},
		{"upstream with credentials", pac.Options{Policy: pol, Rest: pac.Upstream, Upstream: "u:p@filter:8080"}, "upstream"},
		{"direct entry not a pattern", pac.Options{Policy: pol, Direct: []string{"a b.example"}}, "direct entry"},
		{"direct entry with host bits", pac.Options{Policy: pol, Direct: []string{"10.0.0.1/8"}}, "not a CIDR"},
		{"direct entry with a quote", pac.Options{Policy: pol, Direct: []string{`a".example`}}, "direct entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := pac.Generate(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestScriptProxyAddress(t *testing.T) {
	f := mustGenerate(t, pac.Options{Policy: testPolicy(t)})
	for _, bad := range []string{"", "mdmproxy", "mdmproxy:0", "mdm proxy:3128", `a";x="b:1`, "[fe80::1%eth0]:3128", "::1:3128"} {
		if _, err := f.Script(bad); err == nil {
			t.Errorf("Script(%q) accepted", bad)
		}
	}
	s, err := f.Script("MDMProxy.School.LAN.:3128")
	if err != nil || !strings.Contains(string(s.Bytes()), `var mdmproxy = "PROXY mdmproxy.school.lan:3128";`) || s.Len() != len(s.Bytes()) {
		t.Errorf("canonical form: %v", err)
	}
}

// The header names the policy and its rule count; routes follow the options.
func TestHeaderAndRoutes(t *testing.T) {
	pol := testPolicy(t)
	f := mustGenerate(t, pac.Options{Policy: pol, PolicyHash: "0123456789abcdef", MDM: pac.Direct, Rest: pac.Upstream, Upstream: "Filter.School.LAN:8080"})
	s, err := f.Script("p:1")
	if err != nil {
		t.Fatal(err)
	}
	b := string(s.Bytes())
	for _, want := range []string{"// policy 0123456789abcdef, 4 rules\n", "MDM destinations: direct", "the rest: upstream filter.school.lan:8080",
		`if (isMDM(h, ip4, ip6)) return "DIRECT";`, `return "PROXY filter.school.lan:8080";`} {
		if !strings.Contains(b, want) {
			t.Errorf("no %q in\n%s", want, b)
		}
	}
	for _, never := range []string{"dnsResolve", "myIpAddress", "isResolvable"} {
		if strings.Contains(b, never) {
			t.Errorf("the file calls %s", never)
		}
	}
}
