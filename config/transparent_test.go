package config

import "testing"

// Outside Linux a configuration that intercepts is refused by name (exit status 2 from validate
// and serve), not accepted and then failing at the first connection.
func TestTransparentNeedsLinux(t *testing.T) {
	defer func(v bool) { transparentOS = v }(transparentOS)
	transparentOS = false
	_, path, err := loadText(t, "mdmproxy.yaml", "transparent:\n  listen: [\"0.0.0.0:3129\"]\n")
	wantProblem(t, problems(t, err), path, 2, "transparent.listen", "needs Linux")

	// Without listeners the section is harmless everywhere.
	if _, _, err := loadText(t, "mdmproxy.yaml", "transparent:\n  listen: []\n  mode: tproxy\n"); err != nil {
		t.Fatalf("an empty transparent.listen is refused outside Linux: %v", err)
	}
}
