package app

import (
	"testing"

	"github.com/mdmproxy/mdmproxy/config"
	"github.com/mdmproxy/mdmproxy/proxy"
)

// The configuration's defaults and the proxy's zero-value defaults are the same values: a
// Server built without a configuration behaves like the embedded default.
func TestDefaultsAgree(t *testing.T) {
	set, err := Settings(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	if set.Timeouts != proxy.DefaultTimeouts {
		t.Errorf("configuration timeouts %+v, proxy defaults %+v", set.Timeouts, proxy.DefaultTimeouts)
	}
	if set.Limits != proxy.DefaultLimits {
		t.Errorf("configuration limits %+v, proxy defaults %+v", set.Limits, proxy.DefaultLimits)
	}
	if set.Policy == nil || len(set.Policy.Rules()) == 0 {
		t.Error("the embedded default compiles to no rules")
	}
	ec := Events(config.Default())
	if len(ec.Outputs) != 1 || ec.Outputs[0].Output != "stdout" {
		t.Errorf("event outputs %+v, want the default's one stdout output", ec.Outputs)
	}
}
