package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes a configuration file into a fresh temporary directory.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadText loads content as a file of the given name, with no environment beyond env.
func loadText(t testing.TB, name, content string, env ...string) (*Config, string, error) {
	t.Helper()
	path := writeFile(t, name, content)
	if env == nil {
		env = []string{}
	}
	c, err := Load(LoadOptions{Path: path, Env: env})
	return c, path, err
}

// mustLoad loads a YAML text that must be valid.
func mustLoad(t testing.TB, content string, env ...string) *Config {
	t.Helper()
	c, _, err := loadText(t, "mdmproxy.yaml", content, env...)
	if err != nil {
		t.Fatalf("Load: %v\n--- config:\n%s", err, content)
	}
	return c
}

// problems returns the Errors in err, failing the test if err is something else.
func problems(t testing.TB, err error) Errors {
	t.Helper()
	if err == nil {
		t.Fatal("Load succeeded; want configuration errors")
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Load error %v (%T) is not Errors", err, err)
	}
	return errs
}

// wantProblem checks that errs has a problem with this file, line (0: any), key and a message
// containing msg, and that its text reads "FILE:LINE: KEY: MSG".
func wantProblem(t testing.TB, errs Errors, file string, line int, key, msg string) {
	t.Helper()
	for _, e := range errs {
		if e.File != file || e.Key != key || (line > 0 && e.Line != line) || !strings.Contains(e.Msg, msg) {
			continue
		}
		prefix := file + ": "
		if e.Line > 0 {
			prefix = fmt.Sprintf("%s:%d: ", file, e.Line)
		}
		if key != "" {
			prefix += key + ": "
		}
		if text := e.Error(); !strings.HasPrefix(text, prefix) || !strings.Contains(errs.Error(), text) {
			t.Errorf("problem reads %q; want it to start with %q and to be in Errors.Error()", text, prefix)
		}
		return
	}
	t.Errorf("no problem %s:%d: %s: ...%s...; got:\n%v", file, line, key, msg, errs)
}

func errorsAs(err error, target *Errors) bool { return errors.As(err, target) }
