package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/internal/testpki"
)

// recorder collects events.
type recorder struct {
	mu  sync.Mutex
	evs []events.Event
	ch  chan struct{}
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1)} }

func (r *recorder) Emit(e *events.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, *e)
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

// wait returns the first event matching ok, waiting up to 10 s.
func (r *recorder) wait(t *testing.T, ok func(events.Event) bool) events.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		for _, e := range r.evs {
			if ok(e) {
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("no matching event; have %+v", r.evs)
		}
	}
}

func byAction(a events.Action) func(events.Event) bool {
	return func(e events.Event) bool { return e.Action == a }
}

// compileLoopback compiles rules for clients on loopback, with the default deny_cidrs.
func compileLoopback(t testing.TB, rules ...allowlist.Rule) *allowlist.Policy {
	t.Helper()
	pol, err := allowlist.Compile(allowlist.Spec{
		Rules:     rules,
		Clients:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		DenyCIDRs: allowlist.DefaultDenyCIDRs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// testProxy starts a Server on loopback with rules for the given origin port.
func testProxy(t testing.TB, rules []allowlist.Rule, hosts map[string][]netip.Addr, tweak func(*Settings)) (*Server, string, *recorder) {
	t.Helper()
	pol := compileLoopback(t, rules...)
	rec := newRecorder()
	srv := &Server{Events: rec}
	set := &Settings{Policy: pol, Hosts: hosts}
	if tweak != nil {
		tweak(set)
	}
	srv.Update(set)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(100 * time.Millisecond)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, ln.Addr().String(), rec
}

func loopbackRule(name string, port uint16, persistent bool, tlsMode allowlist.TLSMode) allowlist.Rule {
	return allowlist.Rule{
		Name: name, Domains: []string{"*.push.apple.com", "origin.test"},
		CIDRs:      []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Ports:      allowlist.Ports{{Lo: port, Hi: port}},
		Persistent: persistent, TLS: tlsMode,
	}
}

var loopbackHosts = map[string][]netip.Addr{
	"courier.push.apple.com": {netip.MustParseAddr("127.0.0.1")},
	"origin.test":            {netip.MustParseAddr("127.0.0.1")},
}

// connectTo sends a CONNECT through the proxy and returns the connection after a 200.
func connectTo(t testing.TB, proxyAddr, target string) net.Conn {
	t.Helper()
	return connectWith(t, proxyAddr, "", target)
}

// connectWith is connectTo with first sent before the CONNECT (a PROXY header).
func connectWith(t testing.TB, proxyAddr, first, target string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, first+"CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: %s", target, resp.Status)
	}
	if br.Buffered() != 0 {
		t.Fatal("bytes after the 200")
	}
	return c
}

// loopbackListener listens on a free loopback port until the test ends.
func loopbackListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// echoServer accepts connections and echoes until EOF, then closes its write side.
func echoServer(t *testing.T) (port uint16) {
	t.Helper()
	ln := loopbackListener(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				copyNoSplice(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// tlsEchoServer is echoServer behind TLS for the given names; it returns the port and a pool
// that trusts it.
func tlsEchoServer(t *testing.T, names ...string) (uint16, *x509.CertPool) {
	t.Helper()
	return tlsEchoServerWith(t, nil, names...)
}

// tlsEchoServerWith is tlsEchoServer with a server configuration that tweak may change.
func tlsEchoServerWith(t *testing.T, tweak func(*tls.Config), names ...string) (uint16, *x509.CertPool) {
	t.Helper()
	pki, err := testpki.New("proxy test CA", time.Hour, names, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := pki.Pool
	cfg := &tls.Config{Certificates: []tls.Certificate{pki.Leaf}}
	if tweak != nil {
		tweak(cfg)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				copyNoSplice(c, c)
			}()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port), pool
}

// copyNoSplice copies through a buffer: the test's own servers must not hold splice pipes, or
// they would blur the proxy's descriptor count.
func copyNoSplice(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
