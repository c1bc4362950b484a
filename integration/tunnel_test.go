package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// applePush is the apple-push rule of the default policy, opened to 127.0.0.1 (loopback is in
// the default deny_cidrs) and to the test origins' ports.
func applePush(ports ...int) Rule {
	return Rule{Name: "apple-push", Domains: []string{"*.push.apple.com"}, CIDRs: []string{"127.0.0.1/32"},
		Ports: ports, Persistent: true}
}

// checkSplice checks the decision event of a tunnel the proxy spliced.
func checkSplice(t testing.TB, e Event, rule, sni string, dstPort int) {
	t.Helper()
	if e.Event.Action != "splice" || e.Event.Outcome != "success" || e.Event.Reason != "rule" {
		t.Errorf("decision event: action/outcome/reason = %s/%s/%s, want splice/success/rule: %s", e.Event.Action, e.Event.Outcome, e.Event.Reason, e.Raw)
	}
	if e.Rule.Name != rule {
		t.Errorf("decision event: rule.name = %q, want %q: %s", e.Rule.Name, rule, e.Raw)
	}
	if e.TLS.Client.ServerName != sni {
		t.Errorf("decision event: tls.client.server_name = %q, want %q: %s", e.TLS.Client.ServerName, sni, e.Raw)
	}
	if e.Destination.Port != dstPort || e.Destination.IP != "127.0.0.1" {
		t.Errorf("decision event: destination = %s:%d, want 127.0.0.1:%d: %s", e.Destination.IP, e.Destination.Port, dstPort, e.Raw)
	}
	if e.Source.IP != "127.0.0.1" {
		t.Errorf("decision event: source.ip = %q, want 127.0.0.1: %s", e.Source.IP, e.Raw)
	}
	if e.Log.Level != "info" {
		t.Errorf("decision event: log.level %q, want info for a splice: %s", e.Log.Level, e.Raw)
	}
	if e.Event.Kind != "event" || e.Timestamp == "" {
		t.Errorf("decision event: event.kind %q, @timestamp %q: %s", e.Event.Kind, e.Timestamp, e.Raw)
	}
}

// checkEnd checks the end event of a tunnel that carried bytes both ways.
func checkEnd(t testing.TB, e Event, rule string, reasons ...string) {
	t.Helper()
	ok := false
	for _, r := range reasons {
		ok = ok || e.Event.Reason == r
	}
	if !ok {
		t.Errorf("end event: reason %q, want one of %v: %s", e.Event.Reason, reasons, e.Raw)
	}
	if e.Rule.Name != rule {
		t.Errorf("end event: rule.name = %q, want %q: %s", e.Rule.Name, rule, e.Raw)
	}
	if e.Source.Bytes == nil || *e.Source.Bytes <= 0 || e.Destination.Bytes == nil || *e.Destination.Bytes <= 0 {
		t.Errorf("end event: source.bytes and destination.bytes must be > 0: %s", e.Raw)
	}
	if e.Event.Duration == nil || *e.Event.Duration <= 0 {
		t.Errorf("end event: event.duration must be > 0 ns: %s", e.Raw)
	}
}

// TestSpliceCurl: curl through the proxy to an HTTPS origin named courier.push.apple.com gets
// the page; the proxy logs a splice decision and an end event with the bytes it moved.
func TestSpliceCurl(t *testing.T) {
	t.Parallel()
	curl := requireTool(t, "curl")
	const body = "hello from courier\n"
	origin := startHTTPSOrigin(t, body)
	p := StartProxy(t, Config{Rules: []Rule{applePush(origin.Port)}, Hosts: loopbackHosts("courier.push.apple.com")})

	url := fmt.Sprintf("https://courier.push.apple.com:%d/", origin.Port)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, curl, "-sS", "--fail", "--http1.1", "-x", "http://"+p.Addr,
		"--cacert", testPKI(t).CAPath, url)
	cmd.Env = childEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", url, err, stderr.String())
	}
	if string(out) != body {
		t.Fatalf("curl got %q, want %q", out, body)
	}

	m := Match{DstPort: origin.Port}
	m.Action = "splice"
	checkSplice(t, p.WaitEvent(t, m), "apple-push", "courier.push.apple.com", origin.Port)
	m.Action = "end"
	// curl closes its side while the origin may still send its close_notify: depending on who
	// is first, the tunnel ends as eof or reset. Either is a correct account.
	checkEnd(t, p.WaitEvent(t, m), "apple-push", "eof", "reset")
}

// TestSpliceOpenSSL: openssl s_client -proxy with -servername speaks HTTP/1.0 to the origin
// through the proxy and gets the page.
func TestSpliceOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := requireTool(t, "openssl")
	const body = "hello from courier over s_client\n"
	origin := startHTTPSOrigin(t, body)
	p := StartProxy(t, Config{Rules: []Rule{applePush(origin.Port)}, Hosts: loopbackHosts("courier.push.apple.com")})

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	// -quiet implies -ign_eof: s_client keeps reading after its stdin ends, until the origin
	// closes (HTTP/1.0 without keep-alive).
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-quiet", "-verify_return_error",
		"-proxy", p.Addr, "-connect", "courier.push.apple.com:"+strconv.Itoa(origin.Port),
		"-servername", "courier.push.apple.com", "-CAfile", testPKI(t).CAPath)
	cmd.Env = childEnv()
	cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\nHost: courier.push.apple.com\r\n\r\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl s_client: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	if !strings.HasPrefix(string(out), "HTTP/1.0 200") || !strings.HasSuffix(string(out), body) {
		t.Fatalf("openssl s_client got %q, want a 200 response with body %q", out, body)
	}

	m := Match{DstPort: origin.Port}
	m.Action = "splice"
	checkSplice(t, p.WaitEvent(t, m), "apple-push", "courier.push.apple.com", origin.Port)
	m.Action = "end"
	checkEnd(t, p.WaitEvent(t, m), "apple-push", "eof", "reset")
}

// TestSplicePostQuantumHello: a Go client with Go's default TLS settings sends a ClientHello
// of about 1.5 KB (an X25519MLKEM768 key share); the proxy reads it whole, splices, and the
// tunnel echoes data both ways. A clean close on both sides ends the tunnel with reason eof
// and the byte counts of both directions.
func TestSplicePostQuantumHello(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	p := StartProxy(t, Config{Rules: []Rule{applePush(origin.Port)}, Hosts: loopbackHosts("courier.push.apple.com")})

	target := "courier.push.apple.com:" + strconv.Itoa(origin.Port)
	pc := mustConnect(t, p.Addr, target)
	rec := &recordingConn{Conn: pc}
	tc := tls.Client(rec, clientTLS(t, "courier.push.apple.com"))
	pc.SetDeadline(time.Now().Add(waitLimit))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake through the proxy: %v", err)
	}
	pc.SetDeadline(time.Time{})
	if tc.ConnectionState().CurveID != tls.X25519MLKEM768 {
		t.Errorf("negotiated %v, want X25519MLKEM768 (Go's default post-quantum key exchange)", tc.ConnectionState().CurveID)
	}
	if len(rec.first) < 1200 || rec.first[0] != 0x16 {
		t.Fatalf("the first flight was %d bytes (first byte %#x); want a post-quantum ClientHello over 1200 bytes", len(rec.first), rec.first[0])
	}
	const payload = 64 << 10
	mustRoundTrip(t, tc, randomBytes(payload))
	if err := closeTLSCleanly(tc, pc); err != nil {
		t.Fatal(err)
	}

	m := Match{SrcPort: pc.SrcPort()}
	m.Action = "splice"
	dec := p.WaitEvent(t, m)
	checkSplice(t, dec, "apple-push", "courier.push.apple.com", origin.Port)
	if dec.Destination.Domain != "courier.push.apple.com" {
		t.Errorf("decision event: destination.domain = %q: %s", dec.Destination.Domain, dec.Raw)
	}
	m.Action = "end"
	end := p.WaitEvent(t, m)
	checkEnd(t, end, "apple-push", "eof")
	if end.Source.Bytes != nil && *end.Source.Bytes < int64(len(rec.first)+payload) {
		t.Errorf("end event: source.bytes %d < hello %d + payload %d: %s", *end.Source.Bytes, len(rec.first), payload, end.Raw)
	}
	if end.Destination.Bytes != nil && *end.Destination.Bytes < payload {
		t.Errorf("end event: destination.bytes %d < payload %d: %s", *end.Destination.Bytes, payload, end.Raw)
	}
	if end.TLS.Client.ServerName != "courier.push.apple.com" || end.Destination.Port != origin.Port {
		t.Errorf("end event does not repeat the tunnel's SNI and destination: %s", end.Raw)
	}
}

// eagerConn sends the CONNECT request together with the first thing written through it (the
// ClientHello) in one Write, and reads the proxy's answer only when the TLS client first reads:
// a client that does not wait for the 200.
type eagerConn struct {
	*net.TCPConn
	head       []byte
	br         *bufio.Reader
	readOnce   sync.Once
	reply      ConnectReply
	replyErr   error
	firstWrite []byte
}

func (c *eagerConn) Write(p []byte) (int, error) {
	if c.head != nil {
		buf := append(c.head, p...)
		c.head = nil
		c.firstWrite = bytes.Clone(buf)
		n, err := c.TCPConn.Write(buf)
		return max(n-(len(buf)-len(p)), 0), err
	}
	return c.TCPConn.Write(p)
}

func (c *eagerConn) Read(p []byte) (int, error) {
	c.readOnce.Do(func() {
		c.reply, c.replyErr = readConnectReply(c.br)
		if c.replyErr == nil && c.reply.Status != 200 {
			c.replyErr = fmt.Errorf("CONNECT refused: %s: %s", c.reply.Line, c.reply.Body)
		}
	})
	if c.replyErr != nil {
		return 0, c.replyErr
	}
	return c.br.Read(p)
}

// TestEagerClient: a client writes its CONNECT and its ClientHello in one segment, before the
// proxy answered. The proxy must keep the hello bytes it read ahead with the request head and
// replay them to the origin: the handshake and the data that follow work.
func TestEagerClient(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	p := StartProxy(t, Config{Rules: []Rule{applePush(origin.Port)}, Hosts: loopbackHosts("courier.push.apple.com")})

	target := "courier.push.apple.com:" + strconv.Itoa(origin.Port)
	raw, err := dialProxy(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	ec := &eagerConn{TCPConn: raw, head: []byte(connectHead(target, "")), br: bufio.NewReader(raw)}
	tc := tls.Client(ec, clientTLS(t, "courier.push.apple.com"))
	raw.SetDeadline(time.Now().Add(waitLimit))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake of an eager client: %v", err)
	}
	raw.SetDeadline(time.Time{})
	headLen := len(connectHead(target, ""))
	if len(ec.firstWrite) <= headLen+1000 || ec.firstWrite[headLen] != 0x16 {
		t.Fatalf("the first write (%d bytes) should carry the CONNECT head (%d bytes) and a whole ClientHello", len(ec.firstWrite), headLen)
	}
	if ec.reply.Status != 200 {
		t.Fatalf("CONNECT answer %q", ec.reply.Line)
	}
	mustRoundTrip(t, tc, randomBytes(10000))
	if err := closeTLSCleanly(tc, &proxyConn{TCPConn: raw, r: ec.br}); err != nil {
		t.Fatal(err)
	}

	m := Match{SrcPort: raw.LocalAddr().(*net.TCPAddr).Port}
	m.Action = "splice"
	checkSplice(t, p.WaitEvent(t, m), "apple-push", "courier.push.apple.com", origin.Port)
	m.Action = "end"
	checkEnd(t, p.WaitEvent(t, m), "apple-push", "eof")
}

// TestThousandConcurrentTunnels: 1,000 Go TLS clients hold tunnels open at the same time, then
// each does an echo round trip, then all close; every one succeeds and every tunnel gets its
// decision and end events.
func TestThousandConcurrentTunnels(t *testing.T) {
	t.Parallel()
	const (
		tunnels     = 1000
		concurrency = 32
	)
	origin := startTLSEchoOrigin(t)
	p := StartProxy(t, Config{Rules: []Rule{applePush(origin.Port)}, Hosts: loopbackHosts("courier.push.apple.com")})
	target := "courier.push.apple.com:" + strconv.Itoa(origin.Port)

	type tun struct {
		tc *tls.Conn
		pc *proxyConn
	}
	conns := make([]tun, tunnels)
	t.Cleanup(func() {
		for _, c := range conns {
			if c.pc != nil {
				c.pc.Close()
			}
		}
	})
	// The handshakes are the costly part: a shared session cache lets most clients resume
	// instead of doing a full handshake (the ClientHello still goes through the proxy).
	cfg := clientTLS(t, "courier.push.apple.com")
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)

	// parallel runs f for 0..tunnels-1 with bounded concurrency and returns the first errors.
	parallel := func(stage string, f func(i int) error) {
		t.Helper()
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []string
			next = make(chan int)
		)
		for range concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					if err := f(i); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Sprintf("tunnel %d: %v", i, err))
						mu.Unlock()
					}
				}
			}()
		}
		for i := range tunnels {
			next <- i
		}
		close(next)
		wg.Wait()
		if len(errs) > 0 {
			if len(errs) > 10 {
				errs = append(errs[:10], fmt.Sprintf("... %d failures in all", len(errs)))
			}
			t.Fatalf("%s: %d of %d failed:\n%s", stage, len(errs), tunnels, strings.Join(errs, "\n"))
		}
	}

	parallel("open", func(i int) error {
		tc, pc, err := dialTLS(p.Addr, target, cfg)
		if err != nil {
			return err
		}
		conns[i] = tun{tc, pc}
		return nil
	})
	if n := origin.Accepted.Load(); n != tunnels {
		t.Fatalf("the origin accepted %d connections, want %d", n, tunnels)
	}
	if n := p.Metric(t, "mdmproxy_tunnels_open"); n != tunnels {
		t.Errorf("mdmproxy_tunnels_open = %v with all tunnels open, want %d", n, tunnels)
	}
	// All 1,000 are open now; each carries one round trip.
	parallel("round trip", func(i int) error {
		return roundTrip(conns[i].tc, []byte(fmt.Sprintf("tunnel %d says hello\n", i)))
	})
	parallel("close", func(i int) error { return closeTLSCleanly(conns[i].tc, conns[i].pc) })

	splices := p.WaitEvents(t, tunnels, Match{Action: "splice", DstPort: origin.Port})
	ends := p.WaitEvents(t, tunnels, Match{Action: "end", DstPort: origin.Port})
	if len(splices) != tunnels || len(ends) != tunnels {
		t.Fatalf("%d splice and %d end events, want %d of each", len(splices), len(ends), tunnels)
	}
	seen := map[int]bool{}
	for _, e := range ends {
		if e.Event.Reason != "eof" || e.Source.Bytes == nil || *e.Source.Bytes == 0 || e.Destination.Bytes == nil || *e.Destination.Bytes == 0 {
			t.Errorf("end event: %s", e.Raw)
		}
		seen[e.Source.Port] = true
	}
	for _, c := range conns {
		if !seen[c.pc.SrcPort()] {
			t.Errorf("no end event for the tunnel from port %d", c.pc.SrcPort())
		}
	}
}
