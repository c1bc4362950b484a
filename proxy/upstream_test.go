package proxy

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseUpstream(t *testing.T) {
	for _, tt := range []struct {
		raw, addr, auth string
		xff             bool
	}{
		{"http://filter.school.lan:8080", "filter.school.lan:8080", "", true},
		{"http://alice:s3cret@filter:3128", "filter:3128", "Basic YWxpY2U6czNjcmV0", false},
		{"http://alice@[2001:db8::1]:3128", "[2001:db8::1]:3128", "Basic YWxpY2U6", true},
	} {
		up, err := ParseUpstream(tt.raw, tt.xff)
		if err != nil {
			t.Fatalf("%s: %v", tt.raw, err)
		}
		if up.String() != tt.addr || up.credentials("Basic client") != firstNonEmpty(tt.auth, "Basic client") {
			t.Errorf("%s: %s, credentials %q", tt.raw, up, up.credentials("Basic client"))
		}
		if got := up.forwardedFor(netip.MustParseAddr("10.1.2.3")); (got == "10.1.2.3") != tt.xff {
			t.Errorf("%s: X-Forwarded-For %q with upstream_forwarded_for %v", tt.raw, got, tt.xff)
		}
	}
	for _, raw := range []string{"https://alice:s3cret@filter:443", "http://alice:s3cret@filter", "filter:3128", "http://%zz:s3cret@x:1"} {
		if _, err := ParseUpstream(raw, true); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: error %v, want one without the password", raw, err)
		}
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
