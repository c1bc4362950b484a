package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startHAProxy runs a real HAProxy in TCP mode on a free loopback port, sending PROXY protocol
// v2 to backend, until the test ends. It returns HAProxy's address.
func startHAProxy(t *testing.T, backend string) string {
	t.Helper()
	bin := requireTool(t, "haproxy")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // HAProxy binds it next; nothing else on this machine picks ports from 0 this way
	cfg := strings.Join([]string{
		"global", "    maxconn 200",
		"defaults", "    mode tcp", "    timeout connect 5s", "    timeout client 60s", "    timeout server 60s",
		"frontend fe", "    bind " + addr, "    default_backend be",
		"backend be", "    server mdmproxy " + backend + " send-proxy-v2",
	}, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", path)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("haproxy output:\n%s", out.String())
		}
	})
	waitFor(t, "HAProxy to listen on "+addr, func() bool {
		select {
		case <-done:
			t.Fatalf("haproxy exited:\n%s", out.String())
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return addr
}

// tunnelFrom sends a CONNECT to proxyAddr from the loopback address local and keeps its reader for the tunnel.
func tunnelFrom(t *testing.T, local, proxyAddr, target string) (*proxyConn, ConnectReply) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: waitLimit}
	nc, err := d.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*net.TCPConn)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, connectHead(target, "")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	r, err := readConnectReply(br)
	r.SrcPort = c.LocalAddr().(*net.TCPAddr).Port
	if err != nil {
		t.Fatalf("CONNECT %s from %s: %v", target, local, err)
	}
	c.SetDeadline(time.Time{})
	return &proxyConn{TCPConn: c, r: br}, r
}

// balancerOf is an event's mdmproxy.balancer.ip, "" when it has none.
func balancerOf(t *testing.T, e Event) string {
	t.Helper()
	var v struct {
		Mdmproxy struct {
			Balancer struct {
				IP string `json:"ip"`
			} `json:"balancer"`
		} `json:"mdmproxy"`
	}
	if err := json.Unmarshal([]byte(e.Raw), &v); err != nil {
		t.Fatal(err)
	}
	return v.Mdmproxy.Balancer.IP
}

// TestProxyProtocolBehindHAProxy: a real HAProxy with send-proxy-v2 in front of mdmproxy, and
// clients bound to other loopback addresses. The events show each client's own address with
// the balancer's in mdmproxy.balancer.ip, and `clients` applies to the client, not the
// balancer: 127.0.0.7 is admitted and 127.0.0.6 refused. A direct connection from the trusted
// balancer's address without a header, and a header sent by an untrusted source, are refused
// with an event.
func TestProxyProtocolBehindHAProxy(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	port := strconv.Itoa(origin.Port)
	p := StartProxy(t, Config{
		Clients:       []string{"127.0.0.7/32"},
		Rules:         []Rule{applePush(origin.Port)},
		Hosts:         loopbackHosts("courier.push.apple.com"),
		ProxyProtocol: map[string][]string{"trusted": {"127.0.0.1/32"}},
	})
	lb := startHAProxy(t, p.Addr)
	target := "courier.push.apple.com:" + port

	pc, r := tunnelFrom(t, "127.0.0.7", lb, target)
	if r.Status != 200 {
		t.Fatalf("CONNECT through HAProxy from 127.0.0.7: %s %s", r.Line, r.Body)
	}
	tc := tls.Client(pc, clientTLS(t, "courier.push.apple.com"))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	mustRoundTrip(t, tc, []byte("through the balancer"))
	ev := p.WaitEvent(t, Match{SrcPort: r.SrcPort, Action: "splice"})
	if ev.Rule.Name != "apple-push" || ev.TLS.Client.ServerName != "courier.push.apple.com" {
		t.Errorf("splice event: %s", ev.Raw)
	}
	if ev.Source.IP != "127.0.0.7" || balancerOf(t, ev) != "127.0.0.1" {
		t.Errorf("splice event: source.ip %s, mdmproxy.balancer.ip %q; want 127.0.0.7 and 127.0.0.1: %s", ev.Source.IP, balancerOf(t, ev), ev.Raw)
	}
	if err := closeTLSCleanly(tc, pc); err != nil {
		t.Fatal(err)
	}
	end := p.WaitEvent(t, Match{SrcPort: r.SrcPort, Action: "end"})
	if end.Source.IP != "127.0.0.7" || balancerOf(t, end) != "127.0.0.1" {
		t.Errorf("end event: source.ip %s, balancer %q: %s", end.Source.IP, balancerOf(t, end), end.Raw)
	}

	// The balancer (127.0.0.1) is not in clients and does not need to be; 127.0.0.6 is not either.
	_, r = tunnelFrom(t, "127.0.0.6", lb, target)
	if r.Status != 403 {
		t.Errorf("CONNECT through HAProxy from 127.0.0.6 (not in clients): %s, want 403", r.Line)
	}
	if ev := p.WaitEvent(t, Match{SrcPort: r.SrcPort}); ev.Source.IP != "127.0.0.6" || ev.Event.Reason != "client_not_allowed" {
		t.Errorf("refusal event: %s", ev.Raw)
	}

	// The trusted address itself, directly and without a header: refused, no HTTP answer.
	c := mustDialFrom(t, "127.0.0.1", p.Addr)
	io.WriteString(c, connectHead(target, ""))
	if b := readAllBounded(t, c); len(b) != 0 {
		t.Errorf("a trusted source without a PROXY header got an answer: %q", b)
	}
	if ev := p.WaitEvent(t, Match{SrcPort: c.LocalAddr().(*net.TCPAddr).Port}); ev.Event.Reason != "proxy_header_missing" {
		t.Errorf("event %s", ev.Raw)
	}

	// An untrusted source that sends a header claiming to be 127.0.0.7: refused.
	c = mustDialFrom(t, "127.0.0.7", p.Addr)
	io.WriteString(c, "PROXY TCP4 127.0.0.7 127.0.0.1 5000 3128\r\n"+connectHead(target, ""))
	if b := readAllBounded(t, c); len(b) != 0 {
		t.Errorf("an untrusted source's PROXY header got an answer: %q", b)
	}
	ev = p.WaitEvent(t, Match{SrcPort: c.LocalAddr().(*net.TCPAddr).Port})
	if ev.Event.Reason != "proxy_header_untrusted" || ev.Source.IP != "127.0.0.7" {
		t.Errorf("event %s", ev.Raw)
	}
}

func mustDialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: waitLimit}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAllBounded reads until the peer closes, for at most waitLimit.
func readAllBounded(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the proxy kept the connection open for %v", waitLimit)
	}
	return b
}
