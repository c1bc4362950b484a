package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

func TestDefault(t *testing.T) {
	c := Default() // panics if the embedded file is broken
	if !slices.Equal(c.Presets, []string{"apple-push", "google-fcm"}) || len(c.Rules) != 0 {
		t.Fatalf("default presets %v, rules %+v", c.Presets, c.Rules)
	}
	p, err := allowlist.Compile(c.PolicySpec())
	if err != nil {
		t.Fatal(err)
	}
	// What issue 2 asks of the default: Apple push (*.push.apple.com and 17.0.0.0/8 on 443 and
	// 5223) and Google push (mtalk and alt1-8 on 443 and 5228-5230), persistent; the rest denied.
	client := netip.MustParseAddr("127.0.0.1")
	for _, tt := range []struct {
		q          allowlist.Query
		action     allowlist.Action
		persistent bool
	}{
		{allowlist.Query{Name: "courier.push.apple.com", Port: 5223}, allowlist.Splice, true},
		{allowlist.Query{Name: "17-courier.push.apple.com", Port: 443}, allowlist.Splice, true},
		{allowlist.Query{Addr: netip.MustParseAddr("17.1.2.3"), Port: 5223}, allowlist.Splice, true},
		{allowlist.Query{Name: "mtalk.google.com", Port: 5228}, allowlist.Splice, true},
		{allowlist.Query{Name: "alt8-mtalk.google.com", Port: 5230}, allowlist.Splice, true},
		{allowlist.Query{Name: "alt3-mtalk.google.com", Port: 443}, allowlist.Splice, true},
		{allowlist.Query{Name: "example.com", Port: 443}, allowlist.Deny, false},
		{allowlist.Query{Name: "courier.push.apple.com", Port: 22}, allowlist.Deny, false},
	} {
		tt.q.Client = client
		d := p.Decide(tt.q)
		if d.Action != tt.action || (d.Rule != nil && d.Rule.Persistent != tt.persistent) {
			t.Errorf("default policy: %+v -> %v %q", tt.q, d.Action, d.RuleName())
		}
	}
	spec := c.PolicySpec()
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
	a.Presets[0] = "changed"
	a.DenyCIDRs[0] = a.DenyCIDRs[1]
	if b.Presets[0] != "apple-push" || !slices.Equal(b.DenyCIDRs, allowlist.DefaultDenyCIDRs) {
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
			// Each load must see only its own inputs: shared state would mix the two listens.
			var c *Config
			var err error
			want := "127.0.0.1:3128"
			if i%2 == 0 {
				c, err = Load(LoadOptions{Path: path, Env: []string{"MDMPROXY_LISTEN=" + want}})
			} else {
				want = "127.0.0.1:3129"
				c, err = Load(LoadOptions{Env: []string{}, Flags: map[string]string{"listen": want}})
			}
			if err == nil && c.Listen != want {
				err = fmt.Errorf("load %d: listen %q, want %q", i, c.Listen, want)
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
