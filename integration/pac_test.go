package integration

import (
	"context"
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
		// --proxy overrides pac.proxy.
		stdout, _, _ = runCLI(t, "pac", "--config", good, "--proxy", "[::1]:3128")
		if !strings.Contains(stdout, `var mdmproxy = "PROXY [::1]:3128";`) {
			t.Errorf("--proxy not used:\n%.600s", stdout)
		}
	})
}
