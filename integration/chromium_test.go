package integration

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// chromium runs headless Chromium once on url with the extra args (--dump-dom, --screenshot=)
// and returns its stdout and stderr. Each run has a fresh profile and no background
// networking, so the only connection it makes is to url on loopback.
func chromium(t *testing.T, url string, args ...string) (stdout, stderr string) {
	t.Helper()
	bin := requireTool(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + filepath.Join(t.TempDir(), "profile"),
		"--disable-background-networking", "--disable-component-update", "--disable-default-apps",
		"--disable-extensions", "--disable-sync", "--no-first-run", "--no-default-browser-check",
		"--enable-logging=stderr", "--v=0", // console messages, CSP violations among them, on stderr
	}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), url)...)
	cmd.Env = childEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}
