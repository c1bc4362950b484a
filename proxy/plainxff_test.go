package proxy

import (
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// The client's own X-Forwarded-For and Forwarded never reach the upstream: a filter that
// follows them would attribute traffic to an address the device chose. With
// upstream_forwarded_for on, the upstream sees the client's real address instead.
func TestPlainUpstreamForwardedFor(t *testing.T) {
	port, seen := plainOrigin(t) // stands in for the upstream: it records what it received
	pol, err := allowlist.Compile(allowlist.Spec{DefaultAction: allowlist.Upstream,
		Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		up, err := ParseUpstream("http://127.0.0.1:"+strconv.Itoa(int(port)), on)
		if err != nil {
			t.Fatal(err)
		}
		_, addr, _ := testProxy(t, nil, nil, func(s *Settings) { s.Policy, s.Upstream = pol, up })
		req, _ := http.NewRequest("GET", "http://web.test/xff", nil)
		req.Header.Set("X-Forwarded-For", "192.0.2.66")
		req.Header.Set("Forwarded", "for=192.0.2.66")
		resp, err := plainClient(addr).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := <-seen
		var want []string
		if on {
			want = []string{"127.0.0.1"}
		}
		if got := h.Values("X-Forwarded-For"); !slices.Equal(got, want) {
			t.Errorf("upstream_forwarded_for %v: the upstream saw X-Forwarded-For %q, want %q", on, got, want)
		}
		if got := h.Get("Forwarded"); got != "" {
			t.Errorf("upstream_forwarded_for %v: the upstream saw the client's Forwarded %q", on, got)
		}
	}
}
