package doctor

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/internal/testpki"
)

// server is a loopback listener whose connections are handed to handle; it stops, closing
// everything it accepted, when the test ends.
func server(t *testing.T, handle func(net.Conn)) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); handle(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// tlsServer answers TLS handshakes with cert, then closes.
func tlsServer(t *testing.T, cert tls.Certificate) uint16 {
	return server(t, func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		tc.Handshake()
		tc.Close()
	})
}

// closedPort is a port nothing listens on.
func closedPort(t *testing.T) uint16 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return p
}

func mustPKI(t *testing.T, ca string, names ...string) *testpki.PKI {
	t.Helper()
	p, err := testpki.New(ca, time.Hour, names, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// notFound is a resolver that knows no name, as DNS answers NXDOMAIN, except
// sinkholed.mdm.test, for which it answers 0.0.0.0 as DNS filters do.
func notFound(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if host == "sinkholed.mdm.test" {
		return []netip.Addr{netip.IPv4Unspecified()}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestRunResults(t *testing.T) {
	t.Parallel()
	trusted := mustPKI(t, "doctor test CA", "healthy.mdm.test", "courier.push.apple.com")
	other := mustPKI(t, "Inspecting Filter CA", "courier.push.apple.com", "healthy.mdm.test")

	healthy := tlsServer(t, trusted.Leaf)
	inspected := tlsServer(t, other.Leaf)
	hang := server(t, func(c net.Conn) {
		var b [1]byte
		c.Read(b[:]) // holds the connection until the test closes it
	})
	closed := closedPort(t)
	plain := server(t, func(c net.Conn) { c.Close() })

	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	c := Checker{
		Hosts: map[string][]netip.Addr{
			"healthy.mdm.test": lo, "courier.push.apple.com": lo, "closed.mdm.test": lo,
			"hang.mdm.test": lo, "inspected.mdm.test": lo, "plain.mdm.test": lo,
		},
		Lookup:  notFound,
		Roots:   trusted.Pool,
		Timeout: 2 * time.Second, // generous: a loaded machine with -race is slow to handshake
	}
	targets := []Target{
		{Rule: "r1", Name: "healthy.mdm.test", Port: healthy, TLS: true},
		{Rule: "r2", Name: "unresolvable.mdm.test", Port: healthy, TLS: true},
		{Rule: "r3", Name: "closed.mdm.test", Port: closed, TLS: true},
		{Rule: "r4", Name: "hang.mdm.test", Port: hang, TLS: true},
		{Rule: "r5", Name: "courier.push.apple.com", Port: inspected, TLS: true},
		{Rule: "r6", Name: "healthy.mdm.test", Port: inspected, TLS: true},
		{Rule: "r7", Name: "courier.push.apple.com", Port: healthy, TLS: true},
		{Rule: "r8", Name: "plain.mdm.test", Port: plain, TLS: false},
		{Rule: "r9", Name: "other.mdm.test", Port: healthy, TLS: true}, // a name the certificate does not name
		{Rule: "r10", Name: "sinkholed.mdm.test", Port: healthy, TLS: true},
	}
	c.Hosts["other.mdm.test"] = lo

	want := []struct{ result, detail string }{
		{ResultOK, `issued by "doctor test CA"`},
		{ResultDNS, "does not resolve"},
		{ResultRefused, "refused"},
		{ResultTimeout, "no TLS answer"},
		{ResultTLSUntrusted, "TLS-inspecting device (a content filter"},
		{ResultTLSUntrusted, "may be in the path"},
		{ResultOK, "TLS handshake completed"},
		{ResultOK, "does not require TLS"},
		{ResultTLSName, "not issued for other.mdm.test"},
		{ResultDNS, "DNS answered 0.0.0.0, a blocking answer"},
	}
	got := c.Run(context.Background(), targets)
	if len(got) != len(targets) {
		t.Fatalf("%d results for %d targets", len(got), len(targets))
	}
	for i, w := range want {
		g := got[i]
		if g.Result != w.result || !strings.Contains(g.Detail, w.detail) {
			t.Errorf("%s %s:%d = %s %q, want %s with %q", g.Rule, g.Name, g.Port, g.Result, g.Detail, w.result, w.detail)
		}
		if g.Rule != targets[i].Rule || g.Name != targets[i].Name || g.Port != targets[i].Port {
			t.Errorf("result %d is for %s %s:%d, want the target's order", i, g.Rule, g.Name, g.Port)
		}
	}
	if got[0].Address != "127.0.0.1" || got[1].Address != "" {
		t.Errorf("addresses %q and %q, want 127.0.0.1 and none", got[0].Address, got[1].Address)
	}
	if got[4].Detail == got[5].Detail {
		t.Error("an untrusted certificate on an Apple name reads like one on any name")
	}
}

// TestRunTotal: when the total time runs out, the targets not started say so.
func TestRunTotal(t *testing.T) {
	t.Parallel()
	hang := server(t, func(c net.Conn) {
		var b [1]byte
		c.Read(b[:])
	})
	c := Checker{
		Hosts:       map[string][]netip.Addr{"hang.mdm.test": {netip.MustParseAddr("127.0.0.1")}},
		Timeout:     50 * time.Millisecond,
		Total:       time.Millisecond, // raised to 3 Timeouts
		Concurrency: 1,
	}
	targets := make([]Target, 20) // 20 handshakes of 50 ms each cannot fit in 150 ms
	for i := range targets {
		targets[i] = Target{Rule: "r", Name: "hang.mdm.test", Port: hang, TLS: true}
	}
	got := c.Run(context.Background(), targets)
	last := got[len(got)-1]
	if last.Result != ResultTimeout || !strings.Contains(last.Detail, "total time") {
		t.Errorf("last target: %s %q, want a time-out that names the total time", last.Result, last.Detail)
	}
}

func TestNewPlan(t *testing.T) {
	rules := []allowlist.Rule{
		{Name: "mine", Domains: []string{"mdm.school.test", "*.wild.test"}, Ports: allowlist.Ports{{Lo: 443, Hi: 443}, {Lo: 5228, Hi: 5230}}},
		{Name: "apple-push/courier", Domains: []string{"*.push.apple.com"}, Ports: allowlist.Ports{{Lo: 5223, Hi: 5223}}, Persistent: true},
		{Name: "addrs", CIDRs: []netip.Prefix{netip.MustParsePrefix("17.0.0.0/8")}, Ports: allowlist.Ports{{Lo: 443, Hi: 443}}},
		{Name: "wide", Domains: []string{"w.test"}, Ports: allowlist.Ports{{Lo: 1000, Hi: 2000}}, TLS: allowlist.TLSOptional},
	}
	plan := NewPlan(rules)
	var got []string
	for _, tg := range plan.Targets {
		s := tg.Rule + " " + tg.Name + ":" + strconv.Itoa(int(tg.Port))
		if tg.TLS {
			s += " tls"
		}
		if tg.Probe != "" {
			s += " probe"
		}
		got = append(got, s)
	}
	want := []string{
		"mine mdm.school.test:443 tls", "mine mdm.school.test:5228 tls", "mine mdm.school.test:5229 tls", "mine mdm.school.test:5230 tls",
		"apple-push/courier 1-courier.push.apple.com:5223 tls probe",
		"wide w.test:1000", "wide w.test:2000",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("targets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	notes := map[string]string{}
	for _, n := range plan.Notes {
		notes[n.Rule] += n.Text
	}
	for rule, want := range map[string]string{"mine": "*.wild.test", "addrs": "addresses only", "wide": "1000-2000 checked at their ends"} {
		if !strings.Contains(notes[rule], want) {
			t.Errorf("notes of %s = %q, want %q in it", rule, notes[rule], want)
		}
	}
	if strings.Join(plan.Rules, ",") != "mine,apple-push/courier,addrs,wide" {
		t.Errorf("plan rules %v, want the policy's order", plan.Rules)
	}
}

func TestReport(t *testing.T) {
	plan := Plan{
		Rules: []string{"a", "b", "c"},
		Targets: []Target{
			{Rule: "a", Name: "x", Port: 1}, {Rule: "a", Name: "x", Port: 2}, {Rule: "b", Name: "y", Port: 1},
		},
		Notes: []Note{{"c", "not checked: addresses only"}},
	}
	rep := NewReport(plan, []Result{
		{Rule: "a", Name: "x", Port: 1, Result: ResultOK}, {Rule: "a", Name: "x", Port: 2, Result: ResultRefused},
		{Rule: "b", Name: "y", Port: 1, Result: ResultOK},
	})
	got := []string{}
	for _, v := range rep.Rules {
		got = append(got, v.Rule+"="+v.Verdict)
	}
	if strings.Join(got, " ") != "a=failing b=ok c=not_checked" {
		t.Errorf("verdicts %v", got)
	}
	if rep.OK() {
		t.Error("a report with a refused probe is OK")
	}
	var text, js strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"x:2", "refused", "FAILING", "1 of 2", "addresses only"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(js.String(), `"verdict": "failing"`) || !strings.Contains(js.String(), `"result": "refused"`) {
		t.Errorf("JSON report:\n%s", js.String())
	}
}
