package proxy

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// openPlainTunnel opens a tunnel through the proxy to origin.test:port and checks it echoes.
func openPlainTunnel(t *testing.T, addr string, port uint16) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	br := bufio.NewReader(c)
	echo(t, c, br, "hello")
	return c, br
}

func echo(t *testing.T, c net.Conn, br *bufio.Reader, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, len(msg))
	if _, err := io.ReadFull(br, b); err != nil || string(b) != msg {
		t.Fatalf("echo: %q, %v", b, err)
	}
}

// TestReloadRevokes: a reload that takes a port out of a rule ends exactly the open tunnels on
// that port, each with an end event whose reason is policy_revoked; the others carry on, and a
// reload that changes nothing they depend on leaves every tunnel alone.
func TestReloadRevokes(t *testing.T) {
	keep, drop := echoServer(t), echoServer(t)
	both := loopbackRule("plain", keep, true, allowlist.TLSOptional)
	both.Ports = allowlist.Ports{{Lo: keep, Hi: keep}, {Lo: drop, Hi: drop}}
	srv, addr, rec := testProxy(t, []allowlist.Rule{both}, loopbackHosts, nil)
	var kept, dropped []net.Conn
	var keptR []*bufio.Reader
	for range 3 {
		c, br := openPlainTunnel(t, addr, keep)
		kept, keptR = append(kept, c), append(keptR, br)
		c2, _ := openPlainTunnel(t, addr, drop)
		dropped = append(dropped, c2)
	}
	set := *srv.settings.Load()

	// Same rules, new policy object: nothing is refused, nothing ends.
	set.Policy = compileLoopback(t, both)
	if n := srv.revokeCount(&set); n != 0 {
		t.Fatalf("a reload to an equal policy ended %d tunnels", n)
	}

	only := loopbackRule("plain", keep, true, allowlist.TLSOptional)
	set.Policy = compileLoopback(t, only)
	if n := srv.revokeCount(&set); n != len(dropped) {
		t.Fatalf("the reload that takes a port out ended %d tunnels, want %d", n, len(dropped))
	}
	for _, c := range dropped {
		port := uint16(c.LocalAddr().(*net.TCPAddr).Port)
		end := rec.wait(t, func(e events.Event) bool { return e.Action == events.ActionEnd && e.SourcePort == port })
		if end.Reason != "policy_revoked" || end.Rule != "plain" {
			t.Errorf("end event %s rule %q, want policy_revoked for rule plain", end.Reason, end.Rule)
		}
	}
	for i, c := range kept {
		echo(t, c, keptR[i], "still here")
	}
	for _, e := range rec.all() {
		if e.Action == events.ActionEnd && e.Reason != "policy_revoked" {
			t.Errorf("another tunnel ended: %+v", e)
		}
	}

	// The rule now requires TLS: the kept tunnels carry plain bytes, never a checked hello.
	required := loopbackRule("plain", keep, true, allowlist.TLSRequired)
	set.Policy = compileLoopback(t, required)
	if n := srv.revokeCount(&set); n != len(kept) {
		t.Fatalf("the reload that requires TLS ended %d plain tunnels, want %d", n, len(kept))
	}
}

// revokeCount installs set as a reload does and returns how many tunnels it ended.
func (s *Server) revokeCount(set *Settings) int {
	before := s.revoked()
	s.Update(set)
	return s.revoked() - before
}

// all returns the events so far.
func (r *recorder) all() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.evs...)
}

// BenchmarkRevokeScan is one reload's re-check of 10,000 open tunnels, all still allowed (the
// common reload): a decision each, with their own queries, off the data path.
func BenchmarkRevokeScan(b *testing.B) {
	rule := allowlist.Rule{Name: "apple-push", Domains: []string{"*.push.apple.com"}, CIDRs: []netip.Prefix{netip.MustParsePrefix("17.0.0.0/8")},
		Ports: allowlist.Ports{{Lo: 5223, Hi: 5223}, {Lo: 443, Hi: 443}}, Persistent: true}
	pol := compileLoopback(b, rule)
	s := &Server{}
	for i := range 10_000 {
		t := &tunnel{srv: s, facts: factsOf(&events.Event{Rule: "apple-push"})}
		t.query = allowlist.Query{Client: netip.AddrFrom4([4]byte{127, 0, byte(i >> 8), byte(i)}), Name: strconv.Itoa(i%40) + "-courier.push.apple.com",
			Addr: netip.AddrFrom4([4]byte{17, 57, byte(i >> 8), byte(i)}), Port: 5223, SNI: strconv.Itoa(i%40) + "-courier.push.apple.com"}
		t.policyGen.Store(1)
		t.helloChecked = true
		s.addTunnel(t)
	}
	b.ReportAllocs()
	gen := uint64(1)
	for b.Loop() {
		gen++
		if n := s.revoke(pol, gen); n != 0 {
			b.Fatalf("%d tunnels revoked", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10_000, "ns/tunnel")
}
