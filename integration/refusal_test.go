package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// checkDeny checks the decision event of a refused connection.
func checkDeny(t testing.TB, e Event, reason string) {
	t.Helper()
	if e.Event.Action != "deny" || e.Event.Outcome != "failure" || e.Event.Reason != reason {
		t.Errorf("event: action/outcome/reason = %s/%s/%s, want deny/failure/%s: %s", e.Event.Action, e.Event.Outcome, e.Event.Reason, reason, e.Raw)
	}
	if e.Source.IP != "127.0.0.1" {
		t.Errorf("event: source.ip = %q, want 127.0.0.1: %s", e.Source.IP, e.Raw)
	}
	if e.Log.Level != "warn" {
		t.Errorf("event: log.level %q, want warn for a denial: %s", e.Log.Level, e.Raw)
	}
}

// TestRefusals: every way the proxy refuses a CONNECT, with the status the client gets and the
// event the SIEM gets. One proxy serves the cases that share a configuration.
func TestRefusals(t *testing.T) {
	t.Parallel()
	tlsOrigin := startTLSEchoOrigin(t)
	echo := startOrigin(t, plainEcho)
	dead := deadPort(t)
	p := StartProxy(t, Config{
		Rules: []Rule{
			applePush(tlsOrigin.Port, dead),
			{Name: "plain-echo", Domains: []string{"echo.mdm.test"}, CIDRs: []string{"127.0.0.1/32"}, Ports: []int{echo.Port}, TLS: "optional"},
		},
		Hosts:    loopbackHosts("courier.push.apple.com", "dead.push.apple.com", "echo.mdm.test"),
		Timeouts: map[string]string{"hello": "1s", "connect": "2s"},
	})
	courier := "courier.push.apple.com:" + strconv.Itoa(tlsOrigin.Port)

	t.Run("no_rule", func(t *testing.T) {
		t.Parallel()
		r := expectRefusal(t, p.Addr, "example.com:443", 403)
		e := p.WaitEvent(t, Match{SrcPort: r.SrcPort})
		checkDeny(t, e, "no_rule")
		if e.Destination.Domain != "example.com" || e.Destination.Port != 443 {
			t.Errorf("event destination: %s", e.Raw)
		}
		if !strings.Contains(r.Body, "example.com") {
			t.Errorf("the 403 body should say why in one line, naming the target: %q", r.Body)
		}
	})

	t.Run("port_not_allowed", func(t *testing.T) {
		t.Parallel()
		r := expectRefusal(t, p.Addr, "courier.push.apple.com:1", 403)
		e := p.WaitEvent(t, Match{SrcPort: r.SrcPort})
		checkDeny(t, e, "port_not_allowed")
		if e.Destination.Domain != "courier.push.apple.com" || e.Destination.Port != 1 {
			t.Errorf("event destination: %s", e.Raw)
		}
	})

	t.Run("bad_target", func(t *testing.T) {
		t.Parallel()
		for _, target := range []string{"a..b:443", "[::1]"} {
			r := expectRefusal(t, p.Addr, target, 400)
			checkDeny(t, p.WaitEvent(t, Match{SrcPort: r.SrcPort}), "bad_target")
		}
	})

	t.Run("resolve_failed", func(t *testing.T) {
		t.Parallel()
		// Allowed by *.push.apple.com, in no hosts entry: DNS fails (NXDOMAIN, or no DNS at
		// all, which may time out after timeouts.connect).
		target := "nx.invalid-test.push.apple.com:" + strconv.Itoa(tlsOrigin.Port)
		pc, r, err := connect(p.Addr, target, "")
		if pc != nil {
			pc.Close()
			t.Fatalf("CONNECT %s was accepted", target)
		}
		if err != nil {
			t.Fatal(err)
		}
		e := p.WaitEvent(t, Match{SrcPort: r.SrcPort})
		switch {
		case r.Status == 502 && e.Event.Reason == "resolve_failed":
		case r.Status == 504 && e.Event.Reason == "resolve_timeout":
		default:
			t.Errorf("got %q and event reason %q, want 502 resolve_failed or 504 resolve_timeout: %s", r.Line, e.Event.Reason, e.Raw)
		}
		if e.Event.Outcome != "failure" || e.Rule.Name != "apple-push" {
			t.Errorf("event: outcome %q rule %q, want failure, apple-push: %s", e.Event.Outcome, e.Rule.Name, e.Raw)
		}
	})

	t.Run("dial_failed", func(t *testing.T) {
		t.Parallel()
		r := expectRefusal(t, p.Addr, "dead.push.apple.com:"+strconv.Itoa(dead), 502)
		e := p.WaitEvent(t, Match{SrcPort: r.SrcPort})
		if e.Event.Reason != "dial_failed" || e.Event.Outcome != "failure" {
			t.Errorf("event: reason %q outcome %q, want dial_failed, failure: %s", e.Event.Reason, e.Event.Outcome, e.Raw)
		}
		if e.Destination.IP != "127.0.0.1" || e.Destination.Port != dead || e.Rule.Name != "apple-push" {
			t.Errorf("event: destination or rule: %s", e.Raw)
		}
	})

	t.Run("sni_mismatch", func(t *testing.T) {
		t.Parallel()
		// CONNECT to an allowed name, then a ClientHello naming another (allowed-looking)
		// host: domain fronting. After the 200 the proxy answers the hello with an alert.
		tc, pc, err := dialTLS(p.Addr, courier, clientTLS(t, "www.apple.com"))
		if err == nil {
			tc.Close()
			t.Fatal("the handshake with SNI www.apple.com in a tunnel to courier.push.apple.com succeeded")
		}
		if pc == nil {
			t.Fatalf("the CONNECT itself failed: %v", err)
		}
		if !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("handshake error %q, want a TLS alert (unrecognized name) from the proxy", err)
		}
		e := p.WaitEvent(t, Match{SrcPort: pc.SrcPort()})
		checkDeny(t, e, "sni_mismatch")
		if e.TLS.Client.ServerName != "www.apple.com" || e.Destination.Domain != "courier.push.apple.com" {
			t.Errorf("event: SNI and target: %s", e.Raw)
		}
	})

	t.Run("not_tls", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, courier)
		io.WriteString(pc, "GET / HTTP/1.1\r\nHost: courier.push.apple.com\r\n\r\n")
		if got := expectClosed(t, pc); len(got) != 0 {
			t.Errorf("the proxy sent %q before closing a non-TLS tunnel; the origin must not answer", got)
		}
		checkDeny(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort()}), "not_tls")
	})

	t.Run("tls_optional_splices_plain_bytes", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, "echo.mdm.test:"+strconv.Itoa(echo.Port))
		mustRoundTrip(t, pc, []byte("plain text, not TLS\n"))
		e := p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "splice"})
		if e.Rule.Name != "plain-echo" || e.Event.Reason != "rule" || e.TLS.Client.ServerName != "" {
			t.Errorf("decision event: %s", e.Raw)
		}
		pc.CloseWrite()
		expectClosed(t, pc)
		end := p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"})
		checkEnd(t, end, "plain-echo", "eof")
	})

	t.Run("hello_timeout", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, courier)
		// Send nothing: timeouts.hello (1s) ends it.
		if got := expectClosed(t, pc); len(got) != 0 {
			t.Errorf("the proxy sent %q before closing", got)
		}
		checkDeny(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort()}), "hello_timeout")
	})

	t.Run("partial_hello_timeout", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, courier)
		// The start of a record header, then nothing: a slow client.
		pc.Write([]byte{0x16, 0x03, 0x01})
		expectClosed(t, pc)
		checkDeny(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort()}), "hello_timeout")
	})

	t.Run("bad_hello", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, courier)
		// A handshake record whose ClientHello body is garbage.
		garbage := []byte{0x16, 0x03, 0x01, 0x00, 0x24, 0x01, 0x00, 0x00, 0x20}
		garbage = append(garbage, bytes.Repeat([]byte{0xff}, 0x20)...)
		pc.Write(garbage)
		got := expectClosed(t, pc)
		// A fatal decode_error alert: record type 21, level 2, description 50.
		if len(got) < 7 || got[0] != 0x15 || got[5] != 2 || got[6] != 50 {
			t.Errorf("the proxy answered % x, want a fatal decode_error TLS alert", got)
		}
		checkDeny(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort()}), "bad_hello")
	})

	t.Run("plain_http_no_rule", func(t *testing.T) {
		t.Parallel()
		curl := requireTool(t, "curl")
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		cmd := exec.CommandContext(ctx, curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-x", "http://"+p.Addr, "http://example.com/")
		cmd.Env = childEnv()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		if string(out) != "403" {
			t.Fatalf("plain-HTTP proxy request: status %s, want 403", out)
		}
		// Port 80: a parallel subtest's CONNECT example.com:443 is refused for the same reason.
		e := p.WaitEvent(t, Match{Action: "deny", Domain: "example.com", DstPort: 80, Reason: "no_rule"})
		if e.HTTP.Request.Method != "GET" || e.URL.Original != "http://example.com/" {
			t.Errorf("event: http.request.method %q url.original %q: %s", e.HTTP.Request.Method, e.URL.Original, e.Raw)
		}
		checkDeny(t, e, "no_rule")
	})

	t.Run("refusals_do_not_disturb_tunnels", func(t *testing.T) {
		t.Parallel()
		// A tunnel opened next to all of the above works.
		tc, pc := mustDialTLS(t, p.Addr, courier, clientTLS(t, "courier.push.apple.com"))
		mustRoundTrip(t, tc, []byte("still fine"))
		if err := closeTLSCleanly(tc, pc); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRefusalClientNotAllowed: a client outside clients is refused whatever it asks for.
func TestRefusalClientNotAllowed(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	p := StartProxy(t, Config{
		Clients: []string{"10.0.0.0/8"},
		Rules:   []Rule{applePush(origin.Port)},
		Hosts:   loopbackHosts("courier.push.apple.com"),
	})
	r := expectRefusal(t, p.Addr, "courier.push.apple.com:"+strconv.Itoa(origin.Port), 403)
	checkDeny(t, p.WaitEvent(t, Match{SrcPort: r.SrcPort}), "client_not_allowed")
	if n := origin.Accepted.Load(); n != 0 {
		t.Errorf("the origin was dialled %d times for a client the proxy refuses", n)
	}

	// A plain-HTTP request from that client is refused as a client, too.
	c, err := dialProxy(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
	resp, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(resp), "HTTP/1.1 403") {
		t.Errorf("plain HTTP from a refused client: %q, want 403", firstLine(resp))
	}
	checkDeny(t, p.WaitEvent(t, Match{SrcPort: c.LocalAddr().(*net.TCPAddr).Port}), "client_not_allowed")
}

// TestRefusalDeniedAddress: a name that resolves into deny_cidrs (here through hosts) is refused
// unless its rule lists a CIDR containing the address; an IP literal in deny_cidrs is refused.
func TestRefusalDeniedAddress(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	p := StartProxy(t, Config{
		Rules: []Rule{{Name: "no-cidr", Domains: []string{"nocidr.mdm.test"}, Ports: []int{origin.Port}}},
		Hosts: loopbackHosts("nocidr.mdm.test"),
	})
	port := strconv.Itoa(origin.Port)
	r := expectRefusal(t, p.Addr, "nocidr.mdm.test:"+port, 403)
	e := p.WaitEvent(t, Match{SrcPort: r.SrcPort})
	checkDeny(t, e, "denied_address")
	if e.Destination.IP != "127.0.0.1" || e.Destination.Domain != "nocidr.mdm.test" || e.Rule.Name != "no-cidr" {
		t.Errorf("event: %s", e.Raw)
	}

	r = expectRefusal(t, p.Addr, "127.0.0.1:"+port, 403)
	e = p.WaitEvent(t, Match{SrcPort: r.SrcPort})
	checkDeny(t, e, "denied_address")
	if e.Destination.IP != "127.0.0.1" {
		t.Errorf("event: %s", e.Raw)
	}
	if n := origin.Accepted.Load(); n != 0 {
		t.Errorf("the origin was dialled %d times; a denied address must never be dialled", n)
	}
}

// TestRefusalLimits: limits.max_hello_bytes and limits.max_header_bytes.
func TestRefusalLimits(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	p := StartProxy(t, Config{
		Rules:  []Rule{applePush(origin.Port)},
		Hosts:  loopbackHosts("courier.push.apple.com"),
		Limits: map[string]int{"max_hello_bytes": 1024, "max_header_bytes": 1024},
	})
	courier := "courier.push.apple.com:" + strconv.Itoa(origin.Port)

	t.Run("hello_too_large", func(t *testing.T) {
		t.Parallel()
		cfg := clientTLS(t, "courier.push.apple.com")
		for i := range 100 {
			cfg.NextProtos = append(cfg.NextProtos, fmt.Sprintf("padding-protocol-%03d", i))
		}
		pc := mustConnect(t, p.Addr, courier)
		rec := &recordingConn{Conn: pc}
		tc := tls.Client(rec, cfg)
		pc.SetDeadline(time.Now().Add(waitLimit))
		err := tc.Handshake()
		if err == nil {
			t.Fatal("a handshake with a hello larger than max_hello_bytes succeeded")
		}
		if len(rec.first) <= 1024 {
			t.Fatalf("the hello was only %d bytes; the test must send more than 1024", len(rec.first))
		}
		if !strings.Contains(err.Error(), "error decoding message") {
			t.Errorf("handshake error %q, want the proxy's decode_error alert", err)
		}
		checkDeny(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort()}), "hello_too_large")
	})

	t.Run("header_too_large", func(t *testing.T) {
		t.Parallel()
		pc, r, err := connect(p.Addr, courier, "X-Padding: "+strings.Repeat("a", 2048)+"\r\n")
		if pc != nil {
			pc.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != 431 {
			t.Fatalf("CONNECT with a 2 KB header: %q, want 431", r.Line)
		}
		checkDeny(t, p.WaitEvent(t, Match{SrcPort: r.SrcPort}), "header_too_large")
	})

	t.Run("small_header_still_works", func(t *testing.T) {
		t.Parallel()
		// A CONNECT under the limit, with a hello under the limit (no post-quantum share).
		cfg := clientTLS(t, "courier.push.apple.com")
		cfg.CurvePreferences = []tls.CurveID{tls.X25519}
		tc, pc := mustDialTLS(t, p.Addr, courier, cfg)
		mustRoundTrip(t, tc, []byte("small hello"))
		if err := closeTLSCleanly(tc, pc); err != nil {
			t.Fatal(err)
		}
	})
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(s)
}
