package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckIntercepted: `mdmproxy check --intercepted` explains the decision on an intercepted
// flow as the transparent listener makes it. Names resolve through hosts only here (no DNS).
func TestCheckIntercepted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	c := Config{
		Clients: []string{"0.0.0.0/0"},
		Rules: []Rule{
			{Name: "fcm", Domains: []string{"mtalk.example"}, Ports: []int{5228}},
			{Name: "mdm", CIDRs: []string{"203.0.113.11/32"}, Ports: []int{443}},
		},
		Hosts: []Host{{Name: "mtalk.example", IP: "203.0.113.10"}},
	}
	if err := os.WriteFile(cfg, renderConfig(c, filepath.Join(dir, "events.json")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args       []string
		code       int
		wantStdout []string
		wantStderr string
	}{
		{[]string{"--sni", "mtalk.example", "203.0.113.10:5228"}, 0, []string{"action:  splice", "rule:    fcm"}, ""},
		{[]string{"--sni", "mtalk.example", "203.0.113.99:5228"}, 1, []string{"action:  deny", "sni_address_mismatch", "203.0.113.99"}, ""},
		{[]string{"203.0.113.11:443"}, 0, []string{"sni:     none", "rule:    mdm"}, ""},
		{[]string{"--sni", "evil.example", "203.0.113.11:443"}, 1, []string{"sni_not_allowed"}, ""},
		{[]string{"203.0.113.10:5228"}, 1, []string{"no_rule"}, ""},
		{[]string{"mtalk.example:5228"}, 2, nil, "not an address"},
	} {
		args := append([]string{"check", "--config", cfg, "--intercepted"}, tc.args...)
		stdout, stderr, code := runCLI(t, args...)
		ok := code == tc.code && strings.Contains(stderr, tc.wantStderr)
		for _, w := range tc.wantStdout {
			ok = ok && strings.Contains(stdout, w)
		}
		if !ok {
			t.Errorf("mdmproxy %s: exit %d, want %d (stdout %q, stderr %q)\nstdout:\n%s\nstderr:\n%s",
				strings.Join(args, " "), code, tc.code, tc.wantStdout, tc.wantStderr, stdout, stderr)
		}
	}
}
