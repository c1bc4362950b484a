package integration

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

// adminGet fetches path from the admin listener.
func (p *Proxy) adminGet(t testing.TB, path string) (int, string) {
	t.Helper()
	client := http.DefaultClient
	if p.AdminClient != nil {
		client = p.AdminClient
	}
	resp, err := client.Get("http://" + p.AdminAddr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// Metric returns the value of an unlabelled sample from /metrics, failing the test when it
// is missing.
func (p *Proxy) Metric(t testing.TB, name string) float64 {
	t.Helper()
	code, body := p.adminGet(t, "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no %s sample:\n%s", name, body)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("/metrics: %s %q: %v", name, m[1], err)
	}
	return v
}

// TestAdmin: /healthz and /readyz answer 200 and /metrics counts tunnels.
func TestAdmin(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	p := StartProxy(t, Config{Rules: []Rule{applePush(origin.Port)}, Hosts: loopbackHosts("courier.push.apple.com")})
	if p.AdminAddr == p.Addr {
		t.Fatalf("the admin listener is the proxy listener (%s)", p.Addr)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := p.adminGet(t, path); code != 200 {
			t.Errorf("GET %s: %d %q, want 200", path, code, body)
		}
	}
	if v := p.Metric(t, "mdmproxy_tunnels_spliced_total"); v != 0 {
		t.Errorf("mdmproxy_tunnels_spliced_total = %v before any tunnel", v)
	}

	tc, pc := mustDialTLS(t, p.Addr, "courier.push.apple.com:"+strconv.Itoa(origin.Port), clientTLS(t, "courier.push.apple.com"))
	mustRoundTrip(t, tc, []byte("count me"))
	p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "splice"})
	if v := p.Metric(t, "mdmproxy_tunnels_spliced_total"); v != 1 {
		t.Errorf("mdmproxy_tunnels_spliced_total = %v after one spliced tunnel, want 1", v)
	}
	if v := p.Metric(t, "mdmproxy_tunnels_open"); v != 1 {
		t.Errorf("mdmproxy_tunnels_open = %v with one tunnel open, want 1", v)
	}
	if err := closeTLSCleanly(tc, pc); err != nil {
		t.Fatal(err)
	}
	p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"})
	if v := p.Metric(t, "mdmproxy_tunnels_open"); v != 0 {
		t.Errorf("mdmproxy_tunnels_open = %v after the tunnel ended, want 0", v)
	}
	expectRefusal(t, p.Addr, "example.com:443", 403)
	waitFor(t, "mdmproxy_denied_total to count the refusal", func() bool { return p.Metric(t, "mdmproxy_denied_total") == 1 })
}
