package config

import "testing"

// The rules' domains are normalised by allowlist.NormalizeDomainPattern (tested there); these
// cases check the wiring and the messages for host names.
func TestDomainNames(t *testing.T) {
	good := map[string]string{
		"*.Push.Apple.COM.":     "*.push.apple.com",
		"bücher.example":        "xn--bcher-kva.example",
		"_sip._tcp.example.org": "_sip._tcp.example.org",
	}
	for in, want := range good {
		if got, err := normalizeDomainPattern(in); err != nil || got != want {
			t.Errorf("normalizeDomainPattern(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "*", "push.*.apple.com", "17.57.146.20", "127.1", "a..com", "exa mple.com"} {
		if got, err := normalizeDomainPattern(in); err == nil {
			t.Errorf("normalizeDomainPattern(%q) = %q; want an error", in, got)
		}
	}

	if got, err := normalizeHostName("Courier.Push.Apple.com."); err != nil || got != "courier.push.apple.com" {
		t.Errorf("normalizeHostName = %q, %v", got, err)
	}
	for _, in := range []string{"*.apple.com", "17.57.146.20", "[2001:db8::1]", "::1", "", "a b"} {
		if got, err := normalizeHostName(in); err == nil {
			t.Errorf("normalizeHostName(%q) = %q; want an error", in, got)
		}
	}
}
