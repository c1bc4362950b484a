package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// withPolicy is a testProxy tweak that compiles the policy from spec (clients: loopback).
func withPolicy(t *testing.T, spec allowlist.Spec) func(*Settings) {
	t.Helper()
	spec.Clients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	pol, err := allowlist.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	return func(s *Settings) { s.Policy = pol }
}

// connectStatus sends a CONNECT and returns the status and the connection.
func connectStatus(t *testing.T, proxyAddr, target string) (int, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "CONNECT"})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Time{})
	return resp.StatusCode, c
}

// default_action allow dials directly, after the same address check, and carries any bytes.
func TestDefaultActionAllow(t *testing.T) {
	port := echoServer(t)
	hosts := map[string][]netip.Addr{"other.test": {netip.MustParseAddr("127.0.0.1")}}
	target := "other.test:" + strconv.Itoa(int(port))

	t.Run("allowed, any bytes", func(t *testing.T) {
		_, addr, rec := testProxy(t, nil, hosts, withPolicy(t, allowlist.Spec{DefaultAction: allowlist.Allow}))
		status, c := connectStatus(t, addr, target)
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		if err := roundTrip(c, "not TLS at all"); err != nil {
			t.Fatal(err)
		}
		ev := rec.wait(t, byAction(events.ActionAllow))
		if ev.Reason != "default_action" || ev.DestIP.String() != "127.0.0.1" {
			t.Errorf("event %+v", ev)
		}
	})
	t.Run("address check holds", func(t *testing.T) {
		_, addr, rec := testProxy(t, nil, hosts, withPolicy(t, allowlist.Spec{DefaultAction: allowlist.Allow, DenyCIDRs: allowlist.DefaultDenyCIDRs}))
		if status, _ := connectStatus(t, addr, target); status != http.StatusForbidden {
			t.Fatalf("status %d, want 403 for an address in deny_cidrs", status)
		}
		if ev := rec.wait(t, byAction(events.ActionDeny)); ev.Reason != "denied_address" || ev.DestIP.String() != "127.0.0.1" {
			t.Errorf("event %+v", ev)
		}
	})
}

// Report mode lets a policy refusal through as allow and says what enforce would have done;
// deny_cidrs still holds.
func TestReportMode(t *testing.T) {
	port, pool := tlsEchoServer(t, "origin.test", "other.test")
	hosts := map[string][]netip.Addr{"origin.test": {netip.MustParseAddr("127.0.0.1")}, "other.test": {netip.MustParseAddr("127.0.0.1")}}
	rule := allowlist.Rule{Name: "mdm", Domains: []string{"origin.test"}, Ports: allowlist.Ports{{Lo: port, Hi: port}}, TLS: allowlist.TLSRequired}

	t.Run("no rule", func(t *testing.T) {
		_, addr, rec := testProxy(t, nil, hosts, withPolicy(t, allowlist.Spec{Rules: []allowlist.Rule{rule}, Report: true}))
		status, c := connectStatus(t, addr, "other.test:"+strconv.Itoa(int(port)))
		if status != 200 {
			t.Fatalf("status %d, want the refusal let through", status)
		}
		tc := tls.Client(c, &tls.Config{ServerName: "other.test", RootCAs: pool})
		if err := roundTrip(tc, "let through"); err != nil {
			t.Fatal(err)
		}
		ev := rec.wait(t, byAction(events.ActionAllow))
		if ev.Reason != "no_rule" || ev.EnforceAction != events.ActionDeny || ev.EnforceReason != "no_rule" {
			t.Errorf("event %+v, want allow with enforce deny/no_rule", ev)
		}
	})
	t.Run("sni mismatch", func(t *testing.T) {
		_, addr, rec := testProxy(t, nil, hosts, withPolicy(t, allowlist.Spec{Rules: []allowlist.Rule{rule}, Report: true}))
		status, c := connectStatus(t, addr, "origin.test:"+strconv.Itoa(int(port)))
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		tc := tls.Client(c, &tls.Config{ServerName: "other.test", RootCAs: pool})
		if err := roundTrip(tc, "fronted"); err != nil {
			t.Fatal(err)
		}
		ev := rec.wait(t, func(e events.Event) bool { return e.Action != events.ActionEnd })
		if ev.Action != events.ActionAllow || ev.EnforceAction != events.ActionDeny || ev.EnforceReason != "sni_mismatch" || ev.Rule != "mdm" {
			t.Errorf("event %+v, want allow with enforce deny/sni_mismatch under rule mdm", ev)
		}
	})
	t.Run("deny_cidrs holds", func(t *testing.T) {
		_, addr, rec := testProxy(t, nil, hosts, withPolicy(t, allowlist.Spec{Rules: []allowlist.Rule{rule}, Report: true, DenyCIDRs: allowlist.DefaultDenyCIDRs}))
		if status, _ := connectStatus(t, addr, "other.test:"+strconv.Itoa(int(port))); status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", status)
		}
		if ev := rec.wait(t, byAction(events.ActionDeny)); ev.Reason != "denied_address" || ev.EnforceAction != "" {
			t.Errorf("event %+v", ev)
		}
	})
}

// The tunnel limits refuse with 503 and 429 before anything is dialled, and free up again when
// tunnels end.
func TestTunnelLimits(t *testing.T) {
	port := echoServer(t)
	target := "origin.test:" + strconv.Itoa(int(port))
	rules := []allowlist.Rule{loopbackRule("plain", port, false, allowlist.TLSOptional)}
	for _, tt := range []struct {
		name   string
		limits Limits
		status int
		reason string
	}{
		{"max_tunnels", Limits{MaxTunnels: 2}, http.StatusServiceUnavailable, "too_many_tunnels"},
		{"max_tunnels_per_client", Limits{MaxTunnelsPerClient: 2}, http.StatusTooManyRequests, "too_many_client_tunnels"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, addr, rec := testProxy(t, rules, loopbackHosts, func(s *Settings) { s.Limits = tt.limits })
			_, c1 := connectStatus(t, addr, target)
			_, c2 := connectStatus(t, addr, target)
			for _, c := range []net.Conn{c1, c2} {
				if err := roundTrip(c, "open"); err != nil {
					t.Fatal(err)
				}
			}
			status, _ := connectStatus(t, addr, target)
			if status != tt.status {
				t.Fatalf("third tunnel: status %d, want %d", status, tt.status)
			}
			if ev := rec.wait(t, func(e events.Event) bool { return e.Reason == tt.reason }); ev.Action != events.ActionDeny || ev.StatusCode != tt.status {
				t.Errorf("event %+v", ev)
			}
			c1.Close()
			waitFor(t, "the first tunnel to end", func() bool { return srv.OpenTunnels() == 1 })
			if status, _ := connectStatus(t, addr, target); status != 200 {
				t.Fatalf("after a tunnel ended: status %d, want 200", status)
			}
			total, _ := srv.slots.count(netip.MustParseAddr("127.0.0.1"))
			if total != 2 {
				t.Errorf("%d slots held for 2 open tunnels", total)
			}
		})
	}
	t.Run("refusals and failures give their slot back", func(t *testing.T) {
		dead := loopbackListener(t)
		deadPort := uint16(dead.Addr().(*net.TCPAddr).Port)
		dead.Close()
		rules := append(rules, loopbackRule("dead", deadPort, false, allowlist.TLSOptional))
		srv, addr, _ := testProxy(t, rules, loopbackHosts, func(s *Settings) { s.Limits.MaxTunnels = 1 })
		for i := 0; i < 3; i++ {
			if status, _ := connectStatus(t, addr, "example.com:443"); status != http.StatusForbidden {
				t.Fatalf("refused: status %d", status)
			}
			if status, _ := connectStatus(t, addr, "origin.test:"+strconv.Itoa(int(deadPort))); status != http.StatusBadGateway {
				t.Fatalf("dial failed: status %d", status)
			}
		}
		waitFor(t, "no slot held", func() bool { n, _ := srv.slots.count(netip.Addr{}); return n == 0 })
		if status, _ := connectStatus(t, addr, target); status != 200 {
			t.Fatalf("status %d, want 200", status)
		}
	})
}
