package bench

import (
	"bufio"
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// These tests check the suite's plumbing and arithmetic. None of them measures or asserts
// anything about time: the benchmark itself runs only under `make bench`.

func TestMedianQuantile(t *testing.T) {
	if m := Median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := Median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("median of nothing should be NaN")
	}
	s := make([]int, 100)
	for i := range s {
		s[i] = i + 1
	}
	if q := Quantile(s, 0.5); q != 50 {
		t.Errorf("p50 = %d", q)
	}
	if q := Quantile(s, 0.99); q != 99 {
		t.Errorf("p99 = %d", q)
	}
	if q := Quantile([]int{7}, 0.99); q != 7 {
		t.Errorf("p99 of one = %d", q)
	}
}

const microOut = `goos: linux
pkg: github.com/mdmproxy/mdmproxy/allowlist
cpu: Some CPU
BenchmarkDecide/exact-hit-2         	 8714478	       166.8 ns/op	       0 B/op	       0 allocs/op
BenchmarkDecide/ipv6-hit-2          	 3466062	       342.0 ns/op	       0 B/op	       0 allocs/op
PASS
pkg: github.com/mdmproxy/mdmproxy/events
BenchmarkEmit-2           	  901263	      1304 ns/op	         0.08761 dropped/op	       5 B/op	       0 allocs/op
`

func TestParseMicro(t *testing.T) {
	var r MicroResult
	ParseMicro(microOut, &r)
	if len(r.Benches) != 3 || r.CPU != "Some CPU" {
		t.Fatalf("parsed %+v", r)
	}
	b := r.Benches[1]
	if b.Name != "BenchmarkDecide/ipv6-hit" || b.Metrics["ns/op"] != 342 || !strings.HasSuffix(b.Pkg, "/allowlist") {
		t.Errorf("bench %+v", b)
	}
	if e := r.Benches[2]; e.Metrics["dropped/op"] != 0.08761 || e.Metrics["B/op"] != 5 {
		t.Errorf("custom metric %+v", e)
	}
}

func sampleReport() *Report {
	res := &Results{}
	for _, v := range []float64{1000, 1100, 900} {
		res.Add(MBulk1Plain, "direct", v)
		res.Add(MBulk1Plain, "mdmproxy", v*0.98)
		res.Add(MSetupRate, "direct", v)
		res.Add(MSetupRate, "mdmproxy", v*0.9)
		res.Add(MSetupRate, "squid", v*0.6)
		res.Add(MSetupP99, "direct", 10)
		res.Add(MSetupP99, "mdmproxy", 10.5)
		res.Add(MIdleOpened, "mdmproxy", 100)
		res.Add(MIdleAlive, "mdmproxy", 100)
		res.Add(MIdleFDs, "mdmproxy", 2.01)
		res.Add(MIdleKiB, "mdmproxy", 6.5)
	}
	return &Report{
		Params:  Params{Rounds: 3, IdleRounds: 3, BulkRounds: 3, BulkBytes: 256 << 20, BulkTunnels: 8, SetupDuration: 5 * time.Second, SetupConcurrency: 16, IdleN: 100, IdleHold: time.Second},
		Targets: []TargetInfo{{"direct", "direct"}, {"mdmproxy", "mdmproxy"}, {"squid", "Squid"}},
		Results: res,
		Micro:   &MicroResult{Benches: []MicroBench{{Name: "BenchmarkDecide/x", Metrics: map[string]float64{"ns/op": 250}}}},
	}
}

func TestChecks(t *testing.T) {
	got := map[string]string{}
	for _, c := range sampleReport().Checks() {
		got[c.What] = c.Status
	}
	want := map[string]string{
		"Bulk through one tunnel, plain, vs direct":                                  "met",
		"Bulk through one tunnel, TLS, vs direct":                                    "not measured",
		"Tunnel set-up rate vs direct":                                               "met",
		"Tunnel set-up rate vs Squid peek-and-splice":                                "met",
		"Tunnel set-up rate, syslog collector down, vs events to a file (issue #13)": "not measured",
		"p99 set-up latency added vs direct":                                         "met",
		"100 idle TLS tunnels, all alive after the hold":                             "met",
		"Descriptors per idle tunnel":                                                "met",
		"RSS per idle tunnel":                                                        "met",
		"A decision (BenchmarkDecide, every case)":                                   "met",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}

func TestMarkdownKeepsDesignSection(t *testing.T) {
	r := sampleReport()
	doc := r.Markdown()
	for _, s := range []string{"| Bulk, 1 tunnel, plain (MB/s) | 1000 | 980 (0.98×) |", "## Machine", "## Go micro-benchmarks", DesignSection, "TODO"} {
		if !strings.Contains(doc, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	edited := strings.Replace(doc, "TODO: what splicing", "Splicing saved 40%. And", 1)
	r.Preserve = ExtractDesignSection(edited)
	if !strings.Contains(r.Markdown(), "Splicing saved 40%.") {
		t.Error("the hand-written section was not kept")
	}
	if ExtractDesignSection("# nothing\n") != "" {
		t.Error("found a section in a file without one")
	}
}

// TestOriginProtocol runs the origin and a direct client through both kinds of connection.
func TestOriginProtocol(t *testing.T) {
	e, stop := startTestOrigin(t)
	defer stop()
	roundTrips(t, Direct(e), e)
}

// roundTrips opens a session of each kind through tgt and does a ping, a 3 MB fetch and
// another ping on it.
func roundTrips(t *testing.T, tgt *Target, e *Endpoints) {
	t.Helper()
	for _, k := range []Kind{Plain, TLS} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		s, err := OpenSession(ctx, tgt, e, k)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if err := s.Ping(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatalf("%s ping: %v", k, err)
		}
		if err := s.Fetch(3<<20+5, make([]byte, 64<<10)); err != nil {
			t.Fatalf("%s fetch: %v", k, err)
		}
		if err := s.Ping(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatalf("%s ping after fetch: %v", k, err)
		}
		s.Close()
	}
}

// TestConnectClientAndRelay checks the CONNECT client against the reference relay: round trips
// and a 3 MB fetch on each kind, and a 400 for a request that is not a CONNECT.
func TestConnectClientAndRelay(t *testing.T) {
	e, stop := startTestOrigin(t)
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go ServeRelay(ln)
	tgt := ConnectProxy("test", "test", func() string { return ln.Addr().String() }, e, func() int { return 0 })
	roundTrips(t, tgt, e)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a GET to the relay: %v, %v; want 400", resp, err)
	}
}

func startTestOrigin(t *testing.T) (*Endpoints, func()) {
	t.Helper()
	pki, err := NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOrigin(pki.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	go o.Serve()
	return &Endpoints{PlainAddr: o.Plain.Addr().String(), TLSAddr: o.TLS.Addr().String(), PKI: pki}, o.Close
}

func TestConfigs(t *testing.T) {
	e := &Endpoints{PlainAddr: "127.0.0.1:1000", TLSAddr: "127.0.0.1:2000", PKI: &PKI{CAPath: "/x/ca.pem", CAKeyPath: "/x/ca-key.pem"}}
	if c := MdmproxyConfig(e, "/tmp/ev.json"); !strings.Contains(c, "ports: [2000]") || !strings.Contains(c, "file:/tmp/ev.json") {
		t.Errorf("mdmproxy config:\n%s", c)
	}
	if c := SquidConfig(e, "/x", 3128, 20000); !strings.Contains(c, "acl bench_ports port 2000 1000") || !strings.Contains(c, "tls-cert=/x/ca.pem") {
		t.Errorf("squid config:\n%s", c)
	}
	if m := HAProxyMaxConn(20000); 2*m+2*haproxyPipes > 20000 {
		t.Errorf("haproxy maxconn %d does not fit", m)
	}
}

func TestSoakSection(t *testing.T) {
	r := sampleReport()
	doc := r.Markdown()
	soak := SoakSection + "\n\n| Time |\n\nPeak ...: no growth (tolerance: RSS 1 KiB).\n"
	doc2 := ReplaceSection(doc, SoakSection, soak)
	if !strings.Contains(doc2, soak) || strings.Index(doc2, SoakSection) > strings.Index(doc2, DesignSection) {
		t.Fatalf("soak section not placed before the design section:\n%s", doc2)
	}
	// A second soak replaces the first.
	doc3 := ReplaceSection(doc2, SoakSection, strings.Replace(soak, "no growth", "**GROWTH or LOSS**", 1))
	if strings.Count(doc3, SoakSection) != 1 || SoakVerdict(ExtractSection(doc3, SoakSection)) != "**MISSED**" {
		t.Fatalf("soak section not replaced:\n%s", doc3)
	}
	// The next bench run keeps it and reads its verdict.
	r.Soak = ExtractSection(doc2, SoakSection)
	r.Preserve = ExtractDesignSection(doc2)
	out := r.Markdown()
	if !strings.Contains(out, soak) || !strings.Contains(out, "| No growth over a 10-minute soak | none | see the soak section below (a separate run) | met |") {
		t.Fatalf("bench run lost the soak section:\n%s", out)
	}
	if ReplaceSection("", SoakSection, soak) != "\n"+soak {
		t.Error("soak into an empty file")
	}
}

func TestMedianCIBracketsTheMedian(t *testing.T) {
	vs := []float64{310, 290, 305, 330, 298, 301, 315}
	lo, hi := MedianCI(vs)
	m := Median(vs)
	if !(lo <= m && m <= hi) || lo < 290 || hi > 330 || lo == hi {
		t.Fatalf("CI [%v, %v] for median %v of %v", lo, hi, m, vs)
	}
	if lo2, hi2 := MedianCI(vs); lo2 != lo || hi2 != hi {
		t.Fatalf("not reproducible: [%v, %v] then [%v, %v]", lo, hi, lo2, hi2)
	}
	if lo, hi := MedianCI([]float64{4, 2}); lo != 2 || hi != 4 {
		t.Fatalf("two values: [%v, %v], want their range", lo, hi)
	}
}

func TestSetupCPUChecksAndTable(t *testing.T) {
	r := sampleReport()
	for _, v := range []float64{0.80, 0.84, 0.78} {
		r.Results.Add(CPUSetupVs("squid"), "mdmproxy", v)
		r.Results.Add(CPUSetupVs("gorelay"), "mdmproxy", v*1.6)
		r.Results.Add(MCPUSetup, "mdmproxy", 250*v)
		r.Results.Add(MCPUSetup, "squid", 250)
	}
	got := map[string]string{}
	for _, c := range r.Checks() {
		got[c.What] = c.Status
	}
	if s := got["Proxy CPU per tunnel set up vs Squid peek-and-splice's (issue #17)"]; s != "met" {
		t.Errorf("vs Squid at 0.80×: %q", s)
	}
	if s := got["Proxy CPU per tunnel set up vs the bare Go CONNECT relay's (issue #17)"]; s != "**MISSED**" {
		t.Errorf("vs relay at 1.28×: %q", s)
	}
	tab := r.SetupCPUTable()
	if !strings.Contains(tab, "| Squid | 250 |") || !strings.Contains(tab, "| Squid | 0.80× |") {
		t.Errorf("table:\n%s", tab)
	}
}
