package integration

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the binary with args and returns its stdout, stderr and exit status.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = childEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mdmproxy %s did not finish within %v", strings.Join(args, " "), waitLimit)
	}
	return out.String(), errb.String(), exitCodeOf(err)
}

func TestCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	events := filepath.Join(dir, "events.json")
	if err := os.WriteFile(good, renderConfig(Config{Rules: []Rule{applePush(5223)}}, events), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	badYAML := string(renderConfig(Config{Rules: []Rule{applePush(5223)}}, events)) + "timeouts:\n  idle_timout: 5s\n"
	if err := os.WriteFile(bad, []byte(badYAML), 0o600); err != nil {
		t.Fatal(err)
	}

	type want struct {
		code   int
		stdout string // substring
		stderr string // substring
	}
	cases := []struct {
		name string
		args []string
		want want
	}{
		{"check_splice", []string{"check", "courier.push.apple.com:5223"}, want{0, "splice", ""}},
		{"check_deny", []string{"check", "example.com:443"}, want{1, "deny", ""}},
		{"check_bad_target", []string{"check", "a..b:443"}, want{2, "", "a..b"}},
		{"check_with_config", []string{"check", "--config", good, "--sni", "courier.push.apple.com", "courier.push.apple.com:5223"}, want{0, "apple-push", ""}},
		{"check_sni_mismatch", []string{"check", "--sni", "www.apple.com", "courier.push.apple.com:5223"}, want{1, "sni_mismatch", ""}},
		{"validate_good", []string{"validate", "--config", good}, want{0, "valid", ""}},
		{"validate_bad", []string{"validate", "--config", bad}, want{2, "", "timeouts.idle_timout"}},
		{"serve_bad", []string{"serve", "--config", bad}, want{2, "", "timeouts.idle_timout"}},
		{"version", []string{"version"}, want{0, "mdmproxy", ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runCLI(t, c.args...)
			if code != c.want.code || !strings.Contains(stdout, c.want.stdout) || !strings.Contains(stderr, c.want.stderr) {
				t.Errorf("mdmproxy %s: exit %d, want %d; stdout must contain %q, stderr %q\nstdout:\n%s\nstderr:\n%s",
					strings.Join(c.args, " "), code, c.want.code, c.want.stdout, c.want.stderr, stdout, stderr)
			}
		})
	}

	t.Run("serve_port_in_use", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		_, stderr, code := runCLI(t, "serve", "--config", good, "--listen", ln.Addr().String())
		if code != 1 {
			t.Errorf("serve on a port in use: exit %d, want 1; stderr:\n%s", code, stderr)
		}
		if !strings.Contains(stderr, ln.Addr().String()) {
			t.Errorf("the error should name the address in use; stderr:\n%s", stderr)
		}
	})
}
