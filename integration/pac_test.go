package integration

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdmproxy/mdmproxy/internal/pacengine"
)

// writeFile writes a file into a test's temporary directory and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPACCommand: `mdmproxy pac` needs a proxy address, refuses a bad configuration, and
// prints a file a real PAC engine runs.
func TestPACCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "presets: [apple-push]\npac:\n  proxy: \"MDMProxy.School.LAN:3128\"\n  rest: direct\n  direct: [\"*.school.lan\"]\n")
	noProxy := writeFile(t, dir, "noproxy.yaml", "presets: [apple-push]\n")
	bad := writeFile(t, dir, "bad.yaml", "pac:\n  proxy: \"mdmproxy.school.lan:3128\"\n  rest: sideways\n")

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no proxy address", []string{"pac", "--config", noProxy}, 2, "set pac.proxy or pass --proxy"},
		{"embedded default, no proxy address", []string{"pac"}, 2, "set pac.proxy or pass --proxy"},
		{"bad configuration", []string{"pac", "--config", bad}, 2, "pac.rest"},
		{"bad proxy address", []string{"pac", "--config", noProxy, "--proxy", "mdm proxy:3128"}, 2, "proxy address"},
		{"argument", []string{"pac", "extra"}, 2, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) || stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit %d and %q", code, stderr, stdout, tc.code, tc.stderr)
			}
		})
	}

	t.Run("routes", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, "pac", "--config", good)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "// policy ") || strings.Contains(stdout, "dnsResolve") {
			t.Errorf("header or body not as expected:\n%s", stdout)
		}
		hosts := []string{"Courier.Push.Apple.COM.", "evilapple.com", "printer.school.lan", "intranet", "17.57.146.20"}
		want := []string{"PROXY mdmproxy.school.lan:3128", "DIRECT", "DIRECT", "DIRECT", "PROXY mdmproxy.school.lan:3128"}
		res, err := pacengine.Eval(context.Background(), []byte(stdout), hosts, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range hosts {
			if res.Routes[i] != want[i] {
				t.Errorf("%s: %q, want %q", h, res.Routes[i], want[i])
			}
		}
		// default_action upstream: the rest goes to the upstream, named without its credentials.
		up := writeFile(t, dir, "upstream.yaml", "presets: [apple-push]\ndefault_action: upstream\nupstream: \"http://mdm:s3cret@Filter.School.LAN:8080\"\n")
		out, stderr, code := runCLI(t, "pac", "--config", up, "--proxy", "p.school.lan:3128")
		if code != 0 || strings.Contains(out, "s3cret") || strings.Contains(out, "mdm:") {
			t.Fatalf("exit %d (%s); credentials in the file or no file:\n%.600s", code, stderr, out)
		}
		res, err = pacengine.Eval(context.Background(), []byte(out), []string{"courier.push.apple.com", "example.com"}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if res.Routes[0] != "PROXY p.school.lan:3128" || res.Routes[1] != "PROXY filter.school.lan:8080" {
			t.Errorf("default_action upstream: routes %q", res.Routes)
		}
		// --proxy overrides pac.proxy.
		stdout, _, _ = runCLI(t, "pac", "--config", good, "--proxy", "[::1]:3128")
		if !strings.Contains(stdout, `var mdmproxy = "PROXY [::1]:3128";`) {
			t.Errorf("--proxy not used:\n%.600s", stdout)
		}
	})
}

// pacGet fetches path from addr (origin-form, or proxy-form through a proxy when via is set),
// from the local address from ("" for any), with the given Host and If-None-Match.
func pacGet(t *testing.T, addr, path, host, etag, from, via string) (int, http.Header, string) {
	t.Helper()
	d := &net.Dialer{Timeout: waitLimit}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	if via != "" {
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: via})
	}
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: waitLimit}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// TestPACServed: the proxy listener and pac.listen serve the file `mdmproxy pac` prints, to
// clients only, with an ETag, regenerated on reload; a proxy-form request for the proxy's own
// PAC URL is answered, not forwarded.
func TestPACServed(t *testing.T) {
	t.Parallel()
	cfg := Config{
		Clients: []string{"127.0.0.1/32"},
		Rules:   []Rule{{Name: "mdm", Domains: []string{"*.mdm.example", "mdm.example"}, CIDRs: []string{"192.0.2.0/24"}, Ports: []int{443}}},
		PAC:     map[string]any{"listen": "127.0.0.1:0", "rest": "direct", "direct": []string{"*.school.lan"}},
	}
	p := StartProxy(t, cfg)
	var pacAddr string
	for _, l := range p.LogLines() {
		if l["message"] == "mdmproxy started" {
			pacAddr, _ = l["pac_listen"].(string)
		}
	}
	if pacAddr == "" {
		t.Fatalf("the started line names no pac_listen")
	}
	_, proxyPort, _ := net.SplitHostPort(p.Addr)

	status, hdr, body := pacGet(t, p.Addr, "/proxy.pac", "", "", "", "")
	if status != 200 || hdr.Get("Content-Type") != "application/x-ns-proxy-autoconfig" || hdr.Get("ETag") == "" || !strings.HasPrefix(hdr.Get("Cache-Control"), "max-age=") {
		t.Fatalf("GET /proxy.pac: %d %v", status, hdr)
	}
	printed, stderr, code := runCLI(t, "pac", "--config", p.ConfigPath, "--proxy", p.Addr)
	if code != 0 || printed != body {
		t.Fatalf("mdmproxy pac (exit %d, %s) does not print the served bytes", code, stderr)
	}
	res, err := pacengine.Eval(context.Background(), []byte(body), []string{"a.mdm.example", "MDM.example.", "evilmdm.example", "192.0.2.7", "printer.school.lan"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PROXY " + p.Addr, "PROXY " + p.Addr, "DIRECT", "PROXY " + p.Addr, "DIRECT"}
	if strings.Join(res.Routes, ",") != strings.Join(want, ",") {
		t.Errorf("routes %q, want %q", res.Routes, want)
	}

	etag := hdr.Get("ETag")
	if status, _, body := pacGet(t, p.Addr, "/proxy.pac", "", etag, "", ""); status != http.StatusNotModified || body != "" {
		t.Errorf("If-None-Match: %d, %d bytes", status, len(body))
	}

	t.Run("pac.listen", func(t *testing.T) {
		status, _, body := pacGet(t, pacAddr, "/wpad.dat", "wpad", "", "", "")
		if status != 200 || !strings.Contains(body, `var mdmproxy = "PROXY wpad:`+proxyPort+`";`) {
			t.Errorf("GET /wpad.dat on pac.listen with Host wpad: %d\n%.700s", status, body)
		}
		// A listener that serves nothing else: no proxying, no other paths.
		if status, _, _ := pacGet(t, pacAddr, "/metrics", "", "", "", ""); status != http.StatusNotFound {
			t.Errorf("GET /metrics on pac.listen: %d", status)
		}
		if status, _, _ := pacGet(t, "courier.push.apple.com", "/", "", "", "", pacAddr); status != http.StatusNotFound {
			t.Errorf("a proxy request on pac.listen: %d", status)
		}
	})

	t.Run("proxy-form for the proxy's own PAC URL", func(t *testing.T) {
		status, _, got := pacGet(t, p.Addr, "/proxy.pac", "", "", "", p.Addr)
		if status != 200 || got != body {
			t.Errorf("GET http://%s/proxy.pac through the proxy: %d", p.Addr, status)
		}
	})

	t.Run("other clients", func(t *testing.T) {
		denied := func() (all, byReason float64) {
			fams := p.scrape(t)
			all, _ = sample(fams, "mdmproxy_denied_total")
			byReason, _ = sample(fams, "mdmproxy_decisions_total", "action", "deny", "rule", "", "reason", "client_not_allowed")
			return all, byReason
		}
		all0, by0 := denied()
		for _, addr := range []string{p.Addr, pacAddr} {
			status, _, body := pacGet(t, addr, "/proxy.pac", "", "", "127.0.0.3", "")
			if status != http.StatusForbidden || strings.Contains(body, "FindProxyForURL") {
				t.Errorf("client 127.0.0.3 on %s: %d", addr, status)
			}
		}
		p.WaitEvents(t, 2, Match{Action: "deny", Reason: "client_not_allowed"})
		// Counted like the proxy's own refusals.
		if all, by := denied(); all-all0 != 2 || by-by0 != 2 {
			t.Errorf("after 2 refused PAC fetches: mdmproxy_denied_total +%v, decisions_total{deny, client_not_allowed} +%v; want +2 each", all-all0, by-by0)
		}
	})

	t.Run("reload", func(t *testing.T) {
		cfg.Rules = append(cfg.Rules, Rule{Name: "new", Domains: []string{"new.example"}, Ports: []int{443}})
		cfg.PAC["proxy"] = "MDMProxy.test:" + proxyPort
		p.WriteConfig(t, cfg)
		p.WaitLog(t, "configuration reloaded", 1, func(l map[string]any) bool { return l["message"] == "configuration reloaded" })
		status, hdr, got := pacGet(t, p.Addr, "/proxy.pac", "", etag, "", "")
		if status != 200 || hdr.Get("ETag") == etag || !strings.Contains(got, `"new.example"`) || !strings.Contains(got, `"PROXY mdmproxy.test:`+proxyPort+`"`) {
			t.Errorf("after reload: %d, ETag %q (was %q)\n%.700s", status, hdr.Get("ETag"), etag, got)
		}
		// The proxy's own name (pac.proxy) in a proxy-form request: answered, not forwarded.
		status, _, own := pacGet(t, "mdmproxy.test:"+proxyPort, "/wpad.dat", "", "", "", p.Addr)
		if status != 200 || own != got {
			t.Errorf("GET http://mdmproxy.test:%s/wpad.dat through the proxy: %d", proxyPort, status)
		}
	})
}
