package integration

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/internal/testpki"
)

// doctorResult is one line of `mdmproxy doctor --format json`.
type doctorResult struct {
	Rule    string `json:"rule"`
	Name    string `json:"name"`
	Port    int    `json:"port"`
	Address string `json:"address"`
	Result  string `json:"result"`
	MS      *int64 `json:"ms"`
	Detail  string `json:"detail"`
}

type doctorReport struct {
	Results []doctorResult `json:"results"`
	Rules   []struct {
		Rule    string `json:"rule"`
		Verdict string `json:"verdict"`
	} `json:"rules"`
}

// writeConfigFile writes c as a configuration file in a temporary directory.
func writeConfigFile(t *testing.T, c Config) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, renderConfig(c, filepath.Join(dir, "events.json")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDoctor runs `mdmproxy doctor` against local origins mapped by hosts, with the test CA as
// the only trusted root: a healthy origin, a name that does not resolve, a closed port, an
// origin that accepts and never answers, and one presenting a certificate from another CA
// (standing in for a TLS-inspecting filter) on an Apple name.
func TestDoctor(t *testing.T) {
	t.Parallel()
	healthy := startTLSEchoOrigin(t)
	silent := startOrigin(t, func(c net.Conn) {
		io.Copy(io.Discard, c) // never answers; returns when the doctor or the test closes the connection
	})
	filter, err := testpki.New("School Filter Inspection CA", time.Hour, []string{"courier.push.apple.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inspecting := startOrigin(t, func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{filter.Leaf}})
		tc.SetDeadline(time.Now().Add(waitLimit))
		tc.Handshake()
	})
	closed := deadPort(t)

	rules := []Rule{
		{Name: "healthy", Domains: []string{"healthy.mdm.test"}, Ports: []int{healthy.Port}},
		{Name: "unresolvable", Domains: []string{"unresolvable.invalid"}, Ports: []int{healthy.Port}},
		{Name: "closed", Domains: []string{"closed.mdm.test"}, Ports: []int{closed}},
		{Name: "silent", Domains: []string{"silent.mdm.test"}, Ports: []int{silent.Port}},
		{Name: "inspected", Domains: []string{"courier.push.apple.com"}, Ports: []int{inspecting.Port}, Persistent: true},
	}
	cfg := writeConfigFile(t, Config{Rules: rules, Hosts: loopbackHosts("healthy.mdm.test", "closed.mdm.test", "silent.mdm.test", "courier.push.apple.com")})
	ca := testPKI(t).CAPath

	stdout, stderr, code := runCLI(t, "doctor", "--config", cfg, "--ca", ca, "--timeout", "2s", "--format", "json")
	if code != 1 {
		t.Errorf("doctor exit %d, want 1 (failures); stderr:\n%s", code, stderr)
	}
	var rep doctorReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("doctor --format json: %v\n%s", err, stdout)
	}
	want := []struct{ rule, name, address, result, detail string }{
		{"healthy", "healthy.mdm.test", "127.0.0.1", "ok", `issued by "mdmproxy integration test CA"`},
		{"unresolvable", "unresolvable.invalid", "", "dns", "does not resolve"},
		{"closed", "closed.mdm.test", "127.0.0.1", "refused", "refused"},
		{"silent", "silent.mdm.test", "127.0.0.1", "timeout", "no TLS answer came within 2s"},
		{"inspected", "courier.push.apple.com", "127.0.0.1", "tls_untrusted", "TLS-inspecting device"},
	}
	if len(rep.Results) != len(want) {
		t.Fatalf("%d results, want %d:\n%s", len(rep.Results), len(want), stdout)
	}
	for i, w := range want {
		g := rep.Results[i]
		if g.Rule != w.rule || g.Name != w.name || g.Address != w.address || g.Result != w.result || !strings.Contains(g.Detail, w.detail) || g.MS == nil {
			t.Errorf("result %d = %+v, want rule %s name %s address %q result %s, detail with %q, and ms", i, g, w.rule, w.name, w.address, w.result, w.detail)
		}
	}
	if !strings.Contains(rep.Results[4].Detail, `"School Filter Inspection CA"`) {
		t.Errorf("the untrusted result does not name the issuer: %q", rep.Results[4].Detail)
	}
	verdicts := map[string]string{}
	for _, r := range rep.Rules {
		verdicts[r.Rule] = r.Verdict
	}
	for rule, v := range map[string]string{"healthy": "ok", "unresolvable": "failing", "closed": "failing", "silent": "failing", "inspected": "failing"} {
		if verdicts[rule] != v {
			t.Errorf("verdict of %s = %q, want %q", rule, verdicts[rule], v)
		}
	}

	t.Run("text", func(t *testing.T) {
		stdout, _, code := runCLI(t, "doctor", "--config", cfg, "--ca", ca, "--timeout", "2s")
		if code != 1 {
			t.Errorf("doctor exit %d, want 1", code)
		}
		for _, w := range want {
			if !regexp.MustCompile(`(?m)^` + w.rule + ` +` + regexp.QuoteMeta(w.name) + `:\d+ .* ` + w.result + ` +\d+ `).MatchString(stdout) {
				t.Errorf("no text line for %s %s with %s:\n%s", w.rule, w.name, w.result, stdout)
			}
		}
		t.Logf("mdmproxy doctor --config config.yaml --ca ca.pem --timeout 2s\n%s", stdout)
	})
	t.Run("all_reachable", func(t *testing.T) {
		cfg := writeConfigFile(t, Config{Rules: rules[:1], Hosts: loopbackHosts("healthy.mdm.test")})
		stdout, stderr, code := runCLI(t, "doctor", "--config", cfg, "--ca", ca, "--timeout", "2s")
		if code != 0 || !strings.Contains(stdout, "healthy.mdm.test:") || !strings.Contains(stdout, "OK") {
			t.Errorf("doctor exit %d, want 0 with a text report; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})
	t.Run("bad_input", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(bad, []byte("rules: [{name: x, domains: [a.test]}]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"doctor", "--config", bad},
			{"doctor", "--format", "xml"},
			{"doctor", "--timeout", "0s"},
			{"doctor", "--ca", bad},
			{"doctor", "extra"},
		} {
			if _, stderr, code := runCLI(t, args...); code != 2 || stderr == "" {
				t.Errorf("mdmproxy %s: exit %d, want 2 with a message; stderr: %s", strings.Join(args, " "), code, stderr)
			}
		}
	})
}
