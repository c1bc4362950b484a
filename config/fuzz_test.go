package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// FuzzLoad feeds arbitrary bytes to Load as a YAML file: it must never panic, and it either
// returns a configuration whose policy compiles (validate and serve rely on that) or problems
// that each say something.
func FuzzLoad(f *testing.F) {
	f.Add(defaultYAML)
	f.Add([]byte(""))
	f.Add([]byte("listen: 0.0.0.0:3128\ntimeouts:\n  idle_timout: 5m\nrules:\n  - {name: a, domains: [\"*.a.com\"], ports: [443, \"1-2\"]}\n"))
	f.Add([]byte("rules: [{name: a, cidrs: [10.1.2.3/8], ports: 0}]\nhosts: [{name: b, ip: x}]\nlog: {format: cef, outputs: []}\n"))
	f.Add([]byte("a: &x [*x, *x]\nb: *x\n"))
	f.Add([]byte("timeouts: 5s\nlimits: [1]\nlog: {outputs: {a: 1}}\nrules: [[1], null, {}]\n"))
	f.Add([]byte("? [a, b]\n: c\n{1: 2}: 3\n"))

	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(LoadOptions{Path: path, Env: []string{}})
		if err == nil {
			if _, err := allowlist.Compile(c.PolicySpec()); err != nil {
				t.Fatalf("Load accepted a configuration whose policy does not compile: %v", err)
			}
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error %v (%T) is not a non-empty Errors", err, err)
		}
		for _, e := range errs {
			if e.Msg == "" {
				t.Fatalf("problem without a message: %+v", e)
			}
		}
	})
}
