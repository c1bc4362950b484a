package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/config"
)

// The large configuration is valid, has every rule, and is what the decision benchmark's
// policy looks like (ten domains, one CIDR per rule).
func TestBigConfigLoads(t *testing.T) {
	e := &Endpoints{PlainAddr: "127.0.0.1:1000", TLSAddr: "127.0.0.1:2000"}
	dir := t.TempDir()
	path, err := WriteBigConfig(dir, e, 300)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.LoadOptions{Path: path, Env: []string{}})
	if err != nil {
		b, _ := os.ReadFile(path)
		t.Fatalf("%v\n%s", err, b[:min(len(b), 2000)])
	}
	if len(cfg.Rules) != 302 {
		t.Fatalf("%d rules, want 302 (the suite's two and 300 more)", len(cfg.Rules))
	}
	r := cfg.Rules[2+299]
	if r.Name != "big-299" || len(r.Domains) != 10 || len(r.CIDRs) != 1 || !r.CIDRs[0].Addr().Is6() {
		t.Errorf("last rule: %+v", r)
	}
	if !strings.HasPrefix(cfg.Rules[2].Domains[0], "*.") || cfg.Rules[2].CIDRs[0].Bits() != 24 {
		t.Errorf("first big rule: %+v", cfg.Rules[2])
	}
	if filepath.Dir(filepath.Dir(path)) != dir || strings.Contains(BigConfig(e, "x", 1), filepath.Dir(path)) {
		t.Errorf("written to %s, not into a directory of its own under %s", path, dir)
	}
}

func TestLongestGap(t *testing.T) {
	base := time.Unix(1000, 0)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	rt := func(tunnel, end int) rtSample { return rtSample{tunnel: tunnel, start: at(end - 1), end: at(end)} }
	windows := []reloadWindow{{start: at(100), end: at(200)}}
	cases := []struct {
		name    string
		samples []rtSample
		want    time.Duration
	}{
		{"steady answers", []rtSample{rt(0, 90), rt(0, 110), rt(0, 130), rt(0, 150), rt(0, 170), rt(0, 190), rt(0, 210)}, 20 * time.Millisecond},
		{"a gap inside the reload", []rtSample{rt(0, 110), rt(0, 180), rt(0, 195)}, 70 * time.Millisecond},
		{"waiting from the reload's start", []rtSample{rt(0, 90), rt(0, 160), rt(0, 170)}, 60 * time.Millisecond},
		{"answered only after the reload", []rtSample{rt(0, 50), rt(0, 250)}, 150 * time.Millisecond},
		{"the worst tunnel counts", []rtSample{rt(0, 110), rt(0, 130), rt(1, 105), rt(1, 199)}, 94 * time.Millisecond},
		{"answers outside reloads do not count", []rtSample{rt(0, 10), rt(0, 90), rt(0, 101), rt(0, 201), rt(0, 400)}, 100 * time.Millisecond},
	}
	for _, c := range cases {
		if got := longestGap(c.samples, windows, 2); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
