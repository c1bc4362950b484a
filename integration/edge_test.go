package integration

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chunkedConn writes everything in small pieces, each its own write (and, with TCP_NODELAY,
// its own segment): a ClientHello split over many TCP segments.
type chunkedConn struct {
	net.Conn
	size int
}

func (c *chunkedConn) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(c.size, len(p))
		m, err := c.Conn.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
		// Let the segment leave before the next one is written; this is pacing, not an assertion.
		time.Sleep(time.Millisecond)
	}
	return n, nil
}

// TestHelloShapes: ClientHellos the proxy must read whole and splice: split over many TCP
// segments, spread over several TLS records (a 20 KB hello), without SNI, and with a target
// and SNI in other letter case and with a trailing dot.
func TestHelloShapes(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	p := StartProxy(t, Config{Rules: []Rule{applePush(origin.Port)}, Hosts: loopbackHosts("courier.push.apple.com")})
	port := strconv.Itoa(origin.Port)
	courier := "courier.push.apple.com:" + port

	t.Run("split_over_segments", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, courier)
		tc := tls.Client(&chunkedConn{Conn: pc, size: 100}, clientTLS(t, "courier.push.apple.com"))
		pc.SetDeadline(time.Now().Add(waitLimit))
		if err := tc.Handshake(); err != nil {
			t.Fatalf("a hello in 100-byte segments: %v", err)
		}
		pc.SetDeadline(time.Time{})
		mustRoundTrip(t, tc, []byte("segmented hello"))
		checkSplice(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "splice"}), "apple-push", "courier.push.apple.com", origin.Port)
	})

	t.Run("several_records", func(t *testing.T) {
		t.Parallel()
		// 100 ALPN protocols of 200 bytes: a 20 KB hello, which Go sends as two records
		// (a record carries at most 16 KB).
		cfg := clientTLS(t, "courier.push.apple.com")
		for i := range 100 {
			cfg.NextProtos = append(cfg.NextProtos, fmt.Sprintf("%03d-%s", i, strings.Repeat("x", 196)))
		}
		pc := mustConnect(t, p.Addr, courier)
		rec := &recordingConn{Conn: pc}
		tc := tls.Client(rec, cfg)
		pc.SetDeadline(time.Now().Add(waitLimit))
		if err := tc.Handshake(); err != nil {
			t.Fatalf("a 20 KB hello over two records: %v", err)
		}
		pc.SetDeadline(time.Time{})
		if len(rec.first) < 16<<10 {
			t.Fatalf("the hello was %d bytes; the test needs one over 16 KB", len(rec.first))
		}
		mustRoundTrip(t, tc, []byte("big hello"))
		checkSplice(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "splice"}), "apple-push", "courier.push.apple.com", origin.Port)
	})

	t.Run("no_sni", func(t *testing.T) {
		t.Parallel()
		cfg := clientTLS(t, "")
		cfg.InsecureSkipVerify = true // no name to verify: the client sends no SNI
		tc, pc := mustDialTLS(t, p.Addr, courier, cfg)
		mustRoundTrip(t, tc, []byte("no sni"))
		checkSplice(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "splice"}), "apple-push", "", origin.Port)
	})

	t.Run("case_and_trailing_dot", func(t *testing.T) {
		t.Parallel()
		tc, pc := mustDialTLS(t, p.Addr, "Courier.PUSH.Apple.com.:"+port, clientTLS(t, "COURIER.push.apple.COM"))
		mustRoundTrip(t, tc, []byte("names are case-insensitive"))
		e := p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "splice"})
		checkSplice(t, e, "apple-push", "courier.push.apple.com", origin.Port)
		if e.Destination.Domain != "courier.push.apple.com" {
			t.Errorf("destination.domain %q, want the normalised name: %s", e.Destination.Domain, e.Raw)
		}
	})

	t.Run("ip_literal_with_allowed_sni", func(t *testing.T) {
		t.Parallel()
		// 127.0.0.1 is in apple-push's CIDRs: the IP-literal target is matched by CIDR, the
		// SNI by a domain rule.
		tc, pc := mustDialTLS(t, p.Addr, "127.0.0.1:"+port, clientTLS(t, "courier.push.apple.com"))
		mustRoundTrip(t, tc, []byte("ip literal"))
		checkSplice(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "splice"}), "apple-push", "courier.push.apple.com", origin.Port)
	})

	t.Run("ip_literal_with_sni_not_allowed", func(t *testing.T) {
		t.Parallel()
		_, pc, err := dialTLS(p.Addr, "127.0.0.1:"+port, clientTLS(t, "www.apple.com"))
		if err == nil || pc == nil {
			t.Fatalf("a tunnel to 127.0.0.1 with SNI www.apple.com: err %v; want the CONNECT accepted and the hello refused", err)
		}
		e := p.WaitEvent(t, Match{SrcPort: pc.SrcPort()})
		checkDeny(t, e, "sni_not_allowed")
		if e.TLS.Client.ServerName != "www.apple.com" {
			t.Errorf("event: %s", e.Raw)
		}
	})

	t.Run("client_leaves_before_hello", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, courier)
		pc.CloseWrite()
		expectClosed(t, pc)
		e := p.WaitEvent(t, Match{SrcPort: pc.SrcPort()})
		checkDeny(t, e, "client_closed")
	})
}

// TestSeveralAddresses: a name with several addresses dials the first one the policy allows,
// and the next allowed one when it does not answer.
func TestSeveralAddresses(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	port := strconv.Itoa(origin.Port)
	p := StartProxy(t, Config{
		Rules: []Rule{{Name: "multi", Domains: []string{"*.mdm.test"}, CIDRs: []string{"127.0.0.0/8"}, Ports: []int{origin.Port}}},
		Hosts: []Host{
			// 10.9.9.9 is in deny_cidrs and not in the rule: skipped, never dialled.
			{Name: "denied-first.mdm.test", IP: "10.9.9.9"},
			{Name: "denied-first.mdm.test", IP: "127.0.0.1"},
			// Nothing listens on 127.0.0.2: refused, then 127.0.0.1 answers.
			{Name: "dead-first.mdm.test", IP: "127.0.0.2"},
			{Name: "dead-first.mdm.test", IP: "127.0.0.1"},
		},
	})
	for _, name := range []string{"denied-first.mdm.test", "dead-first.mdm.test"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc, pc := mustDialTLS(t, p.Addr, name+":"+port, clientTLS(t, name))
			mustRoundTrip(t, tc, []byte(name))
			checkSplice(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "splice"}), "multi", name, origin.Port)
		})
	}
}

// TestTunnelEndings: one-way traffic keeps a non-persistent tunnel from idling out; a reset
// client ends the tunnel as reset; a server-speaks-first protocol on a tls: optional rule is
// spliced once timeouts.hello passes without a client byte.
func TestTunnelEndings(t *testing.T) {
	t.Parallel()
	// streamer reads the client's 2-byte request, then sends a line every 100 ms for 2.5 s (more
	// than two idle time-outs), then closes.
	streamer := startOrigin(t, func(c net.Conn) {
		if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
			return
		}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := range 25 {
			<-tick.C
			if _, err := fmt.Fprintf(c, "line %02d\n", i); err != nil {
				return
			}
		}
	})
	// echo reports how the client's direction ended: nil for EOF, or the read error.
	echoEnded := make(chan error, 1)
	echo := startOrigin(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				c.Write(buf[:n])
			}
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				echoEnded <- err
				return
			}
		}
	})
	// resetter echoes one message, then, when told, resets the connection.
	resetNow := make(chan struct{})
	resetter := startOrigin(t, func(c net.Conn) {
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		c.Write(buf[:n])
		select {
		case <-resetNow:
		case <-time.After(waitLimit):
		}
		c.(*net.TCPConn).SetLinger(0)
	})
	banner := startOrigin(t, func(c net.Conn) {
		io.WriteString(c, "220 banner first\r\n")
		io.Copy(c, c)
	})
	p := StartProxy(t, Config{
		Rules: []Rule{
			plainRule("stream", "stream.mdm.test", streamer.Port, false),
			plainRule("echo", "echo.mdm.test", echo.Port, false),
			plainRule("banner", "banner.mdm.test", banner.Port, false),
			plainRule("resetter", "reset.mdm.test", resetter.Port, false),
		},
		Hosts:    loopbackHosts("stream.mdm.test", "echo.mdm.test", "banner.mdm.test", "reset.mdm.test"),
		Timeouts: map[string]string{"idle": "1s", "hello": "1s"},
	})

	t.Run("one_way_traffic_is_not_idle", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, "stream.mdm.test:"+strconv.Itoa(streamer.Port))
		io.WriteString(pc, "go") // the first bytes decide the tunnel; then the client is silent
		pc.SetReadDeadline(time.Now().Add(waitLimit))
		got, err := io.ReadAll(pc)
		if err != nil {
			t.Fatalf("reading the stream: %v (got %d bytes)", err, len(got))
		}
		if lines := strings.Count(string(got), "\n"); lines != 25 {
			t.Fatalf("got %d of 25 lines before the tunnel ended; an idle time-out cut a busy tunnel?", lines)
		}
		pc.CloseWrite()
		end := p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"})
		if end.Event.Reason == "idle_timeout" {
			t.Errorf("a tunnel with traffic in one direction ended as idle: %s", end.Raw)
		}
	})

	t.Run("client_reset", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, "echo.mdm.test:"+strconv.Itoa(echo.Port))
		mustRoundTrip(t, pc, []byte("before the reset"))
		pc.SetLinger(0)
		pc.Close() // RST
		// The reset is passed on as a reset: the origin must not take it for a clean end.
		select {
		case err := <-echoEnded:
			if err == nil {
				t.Errorf("the client reset its connection but the origin read a clean EOF")
			}
		case <-time.After(waitLimit):
			t.Fatal("the origin's connection did not end after the client reset")
		}
		end := p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"})
		if end.Event.Reason != "reset" || end.Event.Outcome != "failure" {
			t.Errorf("end event after a client reset: reason %q outcome %q, want reset, failure: %s", end.Event.Reason, end.Event.Outcome, end.Raw)
		}
	})

	t.Run("origin_reset", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, "reset.mdm.test:"+strconv.Itoa(resetter.Port))
		mustRoundTrip(t, pc, []byte("then reset"))
		close(resetNow)
		// The origin resets (while the tunnel is quiet); the client must learn that it failed, not see a clean EOF.
		pc.SetReadDeadline(time.Now().Add(waitLimit))
		_, err := io.ReadAll(pc)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the tunnel stayed open after the origin reset")
		}
		if err == nil {
			t.Errorf("the origin reset its connection but the client read a clean EOF")
		}
		end := p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"})
		if end.Event.Reason != "reset" || end.Event.Outcome != "failure" {
			t.Errorf("end event after an origin reset: reason %q outcome %q, want reset, failure: %s", end.Event.Reason, end.Event.Outcome, end.Raw)
		}
	})

	t.Run("server_speaks_first", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, "banner.mdm.test:"+strconv.Itoa(banner.Port))
		pc.SetReadDeadline(time.Now().Add(waitLimit))
		line, err := pc.r.ReadString('\n')
		if err != nil || line != "220 banner first\r\n" {
			t.Fatalf("got %q, %v; want the origin's banner once timeouts.hello passed", line, err)
		}
		mustRoundTrip(t, pc, []byte("HELO\r\n"))
		e := p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "splice"})
		if e.Rule.Name != "banner" {
			t.Errorf("decision event: %s", e.Raw)
		}
	})
}

// TestBadRequests: malformed, oversized or slow request heads get a clear error (or, for a
// slow plain-HTTP head, a closed connection) and an event, on the CONNECT path and on the
// plain-HTTP path alike.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	p := StartProxy(t, Config{Rules: []Rule{applePush(5223)}, Timeouts: map[string]string{"header": "1s"},
		Limits: map[string]int{"max_header_bytes": 1024}})

	send := func(t *testing.T, raw string) (string, int) {
		c, err := dialProxy(p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitLimit))
		io.WriteString(c, raw)
		b, _ := io.ReadAll(c)
		return firstLine(b), c.LocalAddr().(*net.TCPAddr).Port
	}

	cases := []struct {
		name, raw, status, reason string
	}{
		{"malformed_connect", "CONNECT courier.push.apple.com:5223 HTTP/1.1 extra\r\n\r\n", "400", "bad_request"},
		{"slow_connect_head", "CONNECT courier.push.apple.com:5223 HTTP/1.1\r\n", "408", "header_timeout"},
		{"slow_first_bytes", "CONN", "408", "header_timeout"},
		// Requests that are not CONNECT go to the plain-HTTP side; bad ones there must be
		// logged as well.
		{"tls_to_proxy_port", "\x16\x03\x01\x02\x00 this is TLS to the proxy port\r\n\r\n", "400", "bad_request"},
		{"garbage_request_line", "GARBAGE\r\n\r\n", "400", "bad_request"},
		{"slow_plain_head", "GET http://example.com/ HTTP/1.1\r\n", "", "header_timeout"},
		{"plain_header_too_large", "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX-Padding: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", "431", "header_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			line, port := send(t, c.raw)
			if c.status != "" && !strings.HasPrefix(line, "HTTP/1.1 "+c.status) {
				t.Errorf("answer %q, want %s", line, c.status)
			}
			checkDeny(t, p.WaitEvent(t, Match{SrcPort: port}), c.reason)
		})
	}
}

// TestDefaultCommandIsServe: mdmproxy with no sub-command serves.
func TestDefaultCommandIsServe(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	dir := t.TempDir()
	p := &Proxy{Dir: dir, ConfigPath: dir + "/config.yaml", EventsPath: dir + "/events.json"}
	p.WriteConfig(t, Config{Rules: []Rule{applePush(origin.Port)}, Hosts: loopbackHosts("courier.push.apple.com")})
	p.start(t, "--config", p.ConfigPath)
	tc, pc := mustDialTLS(t, p.Addr, "courier.push.apple.com:"+strconv.Itoa(origin.Port), clientTLS(t, "courier.push.apple.com"))
	mustRoundTrip(t, tc, []byte("default command"))
	if err := closeTLSCleanly(tc, pc); err != nil {
		t.Fatal(err)
	}
	checkEnd(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"}), "apple-push", "eof")
}
