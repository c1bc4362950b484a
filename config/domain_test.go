package config

import (
	"strings"
	"testing"
)

func TestNormalizeDomainPattern(t *testing.T) {
	good := map[string]string{
		"apple.com":                   "apple.com",
		"*.Push.Apple.COM.":           "*.push.apple.com",
		"courier.push.apple.com":      "courier.push.apple.com",
		"bücher.example":              "xn--bcher-kva.example",
		"*.BÜCHER.example":            "*.xn--bcher-kva.example",
		"xn--bcher-kva.example":       "xn--bcher-kva.example",
		"r3---sn-abc.googlevideo.com": "r3---sn-abc.googlevideo.com",
		"_sip._tcp.example.org":       "_sip._tcp.example.org",
		"localhost":                   "localhost",
		"1.example.com":               "1.example.com",
	}
	for in, want := range good {
		if got, err := normalizeDomainPattern(in); err != nil || got != want {
			t.Errorf("normalizeDomainPattern(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", ".", "*", "*.", "**.apple.com", "*apple.com", "push.*.apple.com", "apple.*",
		"17.57.146.20", "[2001:db8::1]", "2001:db8::1", "127.1", "0x7f000001",
		"a..com", ".apple.com", "apple.com..", "-apple.com", "apple-.com", "exa mple.com", "apple.com/x",
		"a@b.com", strings.Repeat("a", 64) + ".com", strings.Repeat("abcdefghi.", 26) + "com",
	}
	for _, in := range bad {
		if got, err := normalizeDomainPattern(in); err == nil {
			t.Errorf("normalizeDomainPattern(%q) = %q; want an error", in, got)
		}
	}
}
