package pac_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdmproxy/mdmproxy/bench"
	"github.com/mdmproxy/mdmproxy/config"
	"github.com/mdmproxy/mdmproxy/internal/pacengine"
	"github.com/mdmproxy/mdmproxy/proxy/pac"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// bigPolicy is the benchmark suite's 10,000-rule policy (bench.BigRules): 100,000 names, half
// of them wildcards, and 10,000 CIDRs, half IPv6.
func bigPolicy(tb testing.TB) *allowlist.Policy {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte("rules:\n"+bench.BigRules(10000)), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Load(config.LoadOptions{Path: path})
	if err != nil {
		tb.Fatal(err)
	}
	pol, err := allowlist.Compile(cfg.PolicySpec())
	if err != nil {
		tb.Fatal(err)
	}
	return pol
}

// Hosts evaluated against the big policy: an exact name, a wildcard's subdomain and a miss;
// an IPv4 literal in the last CIDR, one in none and an IPv6 literal in a CIDR.
var (
	bigNames = []string{"host9-9999.vendor8.example", "a.svc8-9998.vendor4.example", "www.example.com"}
	bigAddrs = []string{"227.39.14.1", "8.8.8.8", "2001:db8:270f::1"}
)

// BenchmarkBigPolicy measures generating the PAC file of the 10,000-rule policy, and reports
// its size and pacparser's time to load it and to evaluate FindProxyForURL once.
func BenchmarkBigPolicy(b *testing.B) {
	pol := bigPolicy(b)
	var script []byte
	for b.Loop() {
		f, err := pac.Generate(pac.Options{Policy: pol})
		if err != nil {
			b.Fatal(err)
		}
		s, err := f.Script("mdmproxy.school.lan:3128")
		if err != nil {
			b.Fatal(err)
		}
		script = s.Bytes()
	}
	b.StopTimer()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(script)
	zw.Close()
	b.ReportMetric(float64(len(script)), "pac-bytes")
	b.ReportMetric(float64(gz.Len()), "pac-gzip-bytes")
	for _, hosts := range []struct {
		unit  string
		hosts []string
	}{{"name", bigNames}, {"ip", bigAddrs}} {
		res, err := pacengine.Eval(context.Background(), script, hosts.hosts, 100)
		if err != nil {
			b.Fatal(err)
		}
		for i, h := range hosts.hosts {
			if res.Routes[i] != "PROXY mdmproxy.school.lan:3128" {
				b.Errorf("%s: %q", h, res.Routes[i])
			}
		}
		b.ReportMetric(float64(res.Load.Milliseconds()), "pacparser-load-ms")
		b.ReportMetric(float64(res.Eval.Microseconds()), "pacparser-µs/eval-"+hosts.unit)
	}
}
