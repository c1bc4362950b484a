package status

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/proxy"
)

// fakeTunnels stands in for the proxy's registry (the integration test uses the real one).
func fakeTunnels(ts []proxy.TunnelInfo) func(func(proxy.TunnelInfo)) {
	return func(fn func(proxy.TunnelInfo)) {
		for _, t := range ts {
			fn(t)
		}
	}
}

// testNow is the clock of testPage.
var testNow = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func testPage(t testing.TB, ts []proxy.TunnelInfo) *Page {
	now := testNow
	p := &Page{Tunnels: fakeTunnels(ts), obs: newObserver(func() time.Time { return now }), now: func() time.Time { return now }}
	spec := allowlist.Spec{Rules: []allowlist.Rule{
		{Name: "apple-push/courier", Domains: []string{"*.push.apple.com"}, Ports: allowlist.Ports{{Lo: 5223, Hi: 5223}}, Persistent: true},
		{Name: "google-fcm/mtalk", Domains: []string{"mtalk.google.com"}, Ports: allowlist.Ports{{Lo: 5228, Hi: 5230}}, Persistent: true},
		{Name: "web", Domains: []string{"www.apple.com"}, Ports: allowlist.Ports{{Lo: 443, Hi: 443}}},
	}}
	p.PolicyLoaded(now.Add(-time.Hour), spec, []string{"apple-push", "google-fcm"})
	return p
}

func get(t testing.TB, h http.Handler, target string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestStatusJSON(t *testing.T) {
	now := testNow
	p := testPage(t, []proxy.TunnelInfo{
		{Client: clientA, Rule: "apple-push/courier", Persistent: true, Destination: "courier.push.apple.com:5223", Started: now.Add(-90 * time.Second), SourceBytes: 10, DestBytes: 20},
		{Client: clientB, Rule: "apple-push/courier", Persistent: true, Destination: "courier.push.apple.com:5223", Started: now.Add(-10 * time.Second), SourceBytes: 1, DestBytes: 2},
		{Client: clientA, Rule: "web", Destination: "www.apple.com:443", Started: now.Add(-5 * time.Second)},
		{Client: clientB, Rule: "gone/rule", Persistent: true, Destination: "old.test:5223", Started: now},
	})
	p.Reloaded(ReloadInfo{At: now.Add(-time.Minute), Trigger: "SIGHUP", Outcome: ReloadRejected, Error: "rules[0].ports: required"})
	p.obs.Emit(deny(clientA, "example.com", 443, "no_rule"))
	p.obs.Emit(deny(clientB, "example.com", 443, "no_rule"))

	res, body := get(t, p, "/status.json")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /status.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	wantPush := []PushStatus{{"apple-push/courier", 2}, {"google-fcm/mtalk", 0}, {"gone/rule", 1}}
	if len(st.Push) != 3 || st.Push[0] != wantPush[0] || st.Push[1] != wantPush[1] || st.Push[2] != wantPush[2] {
		t.Errorf("push %+v, want %+v", st.Push, wantPush)
	}
	if len(st.Clients) != 2 || st.Clients[0].Address != "127.0.0.2" || len(st.Clients[0].Tunnels) != 2 || len(st.Clients[1].Tunnels) != 2 {
		t.Fatalf("clients %+v", st.Clients)
	}
	if got := st.Clients[0].Tunnels[0]; got != (Tunnel{Rule: "apple-push/courier", Destination: "courier.push.apple.com:5223", AgeS: 90, SourceBytes: 10, DestinationBytes: 20, Persistent: true}) {
		t.Errorf("oldest tunnel of 127.0.0.2: %+v", got)
	}
	if len(st.Refusals) != 1 || st.Refusals[0].Target != "example.com:443" || st.Refusals[0].Count != 2 || st.Refusals[0].Tried != 2 || !strings.Contains(st.Refusals[0].Suggestion, "example.com") {
		t.Errorf("refusals %+v", st.Refusals)
	}
	if st.Policy.Rules != 3 || st.Policy.Hash == "" || strings.Join(st.Policy.Presets, ",") != "apple-push,google-fcm" || st.Policy.Mode != "enforce" ||
		st.Policy.LastReload == nil || st.Policy.LastReload.Outcome != "rejected" || !st.Policy.LoadedAt.Equal(testNow.Add(-time.Hour)) {
		t.Errorf("policy %+v", st.Policy)
	}
	for _, key := range []string{`"push"`, `"clients"`, `"refusals"`, `"rules"`, `"policy"`, `"age_s"`, `"source_bytes"`, `"destination_bytes"`, `"suggestion"`, `"loaded_at"`, `"hash"`, `"last_reload"`} {
		if !strings.Contains(body, key) {
			t.Errorf("status.json has no %s", key)
		}
	}
}

func TestStatusPage(t *testing.T) {
	now := testNow
	var ts []proxy.TunnelInfo
	for i := range 3 {
		ts = append(ts, proxy.TunnelInfo{Client: netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}), Rule: "apple-push/courier", Persistent: true,
			Destination: "courier.push.apple.com:5223", Started: now.Add(-time.Duration(i) * time.Minute), SourceBytes: 4096, DestBytes: 3 << 20})
	}
	ts = append(ts, proxy.TunnelInfo{Client: clientA, Rule: "web", Destination: "<script>alert(1)</script>:443", Started: now})
	p := testPage(t, ts)
	p.obs.Emit(deny(netip.MustParseAddr("127.0.0.9"), "blocked.example", 443, "no_rule"))

	res, body := get(t, p, "/")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	csp := res.Header.Get("Content-Security-Policy")
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(body)
	if style == nil {
		t.Fatal("no <style> in the page")
	}
	sum := sha256.Sum256([]byte(style[1]))
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
		t.Errorf("CSP %q does not allow the page's style by its hash (%s)", csp, want)
	}
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("the page has a script or an external reference")
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;:443") {
		t.Error("a hostile destination is not escaped")
	}
	for _, want := range []string{`http-equiv="refresh" content="15; url=/"`, `name="viewport"`, "127.0.0.4", "3.0 MiB", "2m 00s", "blocked.example:443", "allow-blocked-example-443", "apple-push, google-fcm"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if got := strings.Count(body, `<tr class="tunnel">`); got != 4 {
		t.Errorf("%d tunnel rows, want 4", got)
	}

	// The search narrows the table server-side and survives the refresh.
	_, body = get(t, p, "/?q=127.0.0.3")
	if got := strings.Count(body, `<tr class="tunnel">`); got != 1 || !strings.Contains(body, `url=/?q=127.0.0.3"`) {
		t.Errorf("search 127.0.0.3: %d rows; refresh kept the search: %v", got, strings.Contains(body, "url=/?q=127.0.0.3"))
	}
	_, body = get(t, p, "/?q=WEB")
	if got := strings.Count(body, `<tr class="tunnel">`); got != 1 {
		t.Errorf("search WEB: %d rows, want 1 (rule, case-insensitive)", got)
	}

	for target, code := range map[string]int{"/nope": 404, "/status.json": 200} {
		if res, _ := get(t, p, target); res.StatusCode != code {
			t.Errorf("GET %s: %d, want %d", target, res.StatusCode, code)
		}
	}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", rec.Code)
	}
}

// TestStatusPageBounded: the page lists at most maxPageTunnels tunnels and says how many more.
func TestStatusPageBounded(t *testing.T) {
	ts := make([]proxy.TunnelInfo, maxPageTunnels+25)
	for i := range ts {
		ts[i] = proxy.TunnelInfo{Client: addrN(i), Rule: "apple-push/courier", Persistent: true, Destination: "courier.push.apple.com:5223", Started: testNow}
	}
	_, body := get(t, testPage(t, ts), "/")
	if got := strings.Count(body, `<tr class="tunnel">`); got != maxPageTunnels || !strings.Contains(body, "25 more not listed") {
		t.Errorf("%d rows listed; the page says how many more: %v", got, strings.Contains(body, "25 more not listed"))
	}
}

// FuzzSearch: whatever the search, the page renders, and the search text comes back escaped.
func FuzzSearch(f *testing.F) {
	p := testPage(f, []proxy.TunnelInfo{{Client: clientA, Rule: "apple-push/courier", Persistent: true, Destination: "courier.push.apple.com:5223", Started: testNow}})
	f.Add("127.0.0.2")
	f.Add(`"><script>alert(1)</script>`)
	f.Add("\xff\xfe%00")
	f.Fuzz(func(t *testing.T, q string) {
		res, body := get(t, p, "/?q="+url.QueryEscape(q))
		if res.StatusCode != 200 {
			t.Fatalf("search %q: status %d", q, res.StatusCode)
		}
		if strings.Contains(body, "<script") {
			t.Fatalf("search %q: a script tag in the page", q)
		}
	})
}
