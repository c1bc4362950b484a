package pacengine

import (
	"context"
	"testing"
)

func TestEval(t *testing.T) {
	script := []byte(`function FindProxyForURL(url, host) {
		if (dnsDomainIs(host, ".example.com")) return "PROXY p:1";
		return "DIRECT";
	}`)
	res, err := Eval(context.Background(), script, []string{"a.example.com", "example.com"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Routes[0] != "PROXY p:1" || res.Routes[1] != "DIRECT" {
		t.Errorf("routes %q", res.Routes)
	}
	if res.Eval <= 0 || res.Load <= 0 {
		t.Errorf("times: load %v eval %v", res.Load, res.Eval)
	}
}

func TestEvalBadScript(t *testing.T) {
	if _, err := Eval(context.Background(), []byte("function FindProxyForURL(url, host) {"), []string{"a"}, 1); err == nil {
		t.Error("a script that does not parse was evaluated")
	}
}
