package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

func TestDefault(t *testing.T) {
	c := Default() // panics if the embedded file is broken
	spec := c.PolicySpec()
	if len(spec.Rules) != 2 {
		t.Fatalf("want 2 rules, got %+v", spec.Rules)
	}
	apple, fcm := spec.Rules[0], spec.Rules[1]
	if apple.Name != "apple-push" || !slices.Equal(apple.Domains, []string{"*.push.apple.com"}) ||
		apple.CIDRs[0].String() != "17.0.0.0/8" || apple.Ports.String() != "443,5223" || !apple.Persistent || apple.TLS != allowlist.TLSRequired {
		t.Errorf("apple-push rule %+v", apple)
	}
	wantFCM := []string{"mtalk.google.com", "mtalk4.google.com"}
	for i := 1; i <= 8; i++ {
		wantFCM = append(wantFCM, "alt"+string(rune('0'+i))+"-mtalk.google.com")
	}
	if fcm.Name != "google-fcm" || !slices.Equal(fcm.Domains, wantFCM) || len(fcm.CIDRs) != 0 ||
		fcm.Ports.String() != "443,5228-5230" || !fcm.Persistent || fcm.TLS != allowlist.TLSRequired {
		t.Errorf("google-fcm rule %+v", fcm)
	}
	if spec.DefaultAction != allowlist.Deny || spec.Report || !slices.Equal(spec.DenyCIDRs, allowlist.DefaultDenyCIDRs) {
		t.Errorf("spec %+v", spec)
	}
	if want := []LogOutput{{Format: "json", Output: "stdout", Level: "info"}}; !slices.Equal(c.Log.Outputs, want) {
		t.Errorf("log outputs %+v", c.Log.Outputs)
	}
	if c.Listen != "0.0.0.0:3128" || c.AdminListen != "127.0.0.1:9090" {
		t.Errorf("listen %q admin %q", c.Listen, c.AdminListen)
	}
}

// Each call returns its own value.
func TestDefaultIsFresh(t *testing.T) {
	a, b := Default(), Default()
	a.Rules[0].Domains[0] = "changed"
	a.DenyCIDRs[0] = a.DenyCIDRs[1]
	if b.Rules[0].Domains[0] != "*.push.apple.com" || !slices.Equal(b.DenyCIDRs, allowlist.DefaultDenyCIDRs) {
		t.Error("Default values share memory")
	}
}

// An admin who copies the template gets the same configuration.
func TestDefaultYAMLAsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, DefaultYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(LoadOptions{Path: path, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("got %+v\nwant %+v", c, Default())
	}
}

// Load is called again from other goroutines on reload.
func TestLoadConcurrently(t *testing.T) {
	path := writeFile(t, "c.yaml", "timeouts: {idle: 1m}\n")
	done := make(chan error)
	for i := range 8 {
		go func() {
			var err error
			if i%2 == 0 {
				_, err = Load(LoadOptions{Path: path, Env: []string{"MDMPROXY_LISTEN=127.0.0.1:3128"}})
			} else {
				_, err = Load(LoadOptions{Env: []string{}, Flags: map[string]string{"listen": "127.0.0.1:3129"}})
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
