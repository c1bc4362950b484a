package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var (
	// binPath is the mdmproxy binary under test: $MDMPROXY_BIN, or built once by TestMain.
	binPath string
	// sharedDir is a temporary directory for files shared by the whole run (the test CA).
	sharedDir string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mdmproxy-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	sharedDir = dir

	if p := os.Getenv("MDMPROXY_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration: MDMPROXY_BIN:", err)
			return 1
		}
		if _, err := os.Stat(abs); err != nil {
			fmt.Fprintf(os.Stderr, "integration: MDMPROXY_BIN=%s: %v\n", p, err)
			return 1
		}
		binPath = abs
	} else {
		goTool, err := exec.LookPath("go")
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration: the go tool is not on PATH; set MDMPROXY_BIN to a built mdmproxy")
			return 1
		}
		binPath = filepath.Join(dir, "mdmproxy")
		args := []string{"build"}
		if os.Getenv("MDMPROXY_RACE_BIN") != "" {
			args = append(args, "-race")
		}
		args = append(args, "-o", binPath, "./cmd/mdmproxy")
		cmd := exec.Command(goTool, args...)
		cmd.Dir = ".." // the module root: this package is <root>/integration
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "integration: go build ./cmd/mdmproxy:", err)
			return 1
		}
	}
	return m.Run()
}

// requireTool fails the test (never skips it) when an external client is missing.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (%v): run scripts/install-test-deps.sh, which installs the integration tests' clients", name, err)
	}
	return p
}
