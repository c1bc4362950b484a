package integration

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestShutdownDelay: after SIGTERM, /readyz answers 503 at once while the listener keeps
// accepting for timeouts.shutdown_delay (a new tunnel still works); then it stops accepting,
// the open tunnels get shutdown_grace, and the process exits 0 with an end event for each,
// within delay + grace (plus time to write the events).
func TestShutdownDelay(t *testing.T) {
	t.Parallel()
	const delay, grace = 4 * time.Second, 1 * time.Second
	origin := startTLSEchoOrigin(t)
	p := StartProxy(t, Config{
		Rules:    []Rule{applePush(origin.Port)},
		Hosts:    loopbackHosts("courier.push.apple.com"),
		Timeouts: map[string]string{"shutdown_delay": delay.String(), "shutdown_grace": grace.String()},
	})
	target := "courier.push.apple.com:" + strconv.Itoa(origin.Port)
	before, pcBefore := mustDialTLS(t, p.Addr, target, clientTLS(t, "courier.push.apple.com"))
	mustRoundTrip(t, before, []byte("before SIGTERM"))
	if code, _ := p.adminGet(t, "/readyz"); code != 200 {
		t.Fatalf("/readyz before SIGTERM: %d, want 200", code)
	}

	sent := time.Now()
	p.Signal(t, syscall.SIGTERM)
	waitFor(t, "/readyz to answer 503", func() bool { code, _ := p.adminGet(t, "/readyz"); return code == 503 })
	// Not ready, and still accepting: a balancer that has not noticed yet loses nothing.
	during, pcDuring := mustDialTLS(t, p.Addr, target, clientTLS(t, "courier.push.apple.com"))
	mustRoundTrip(t, during, []byte("accepted during the delay"))
	if time.Since(sent) >= delay {
		t.Fatalf("the machine is too slow for this test: the new tunnel took past the %v delay", delay)
	}
	p.waitListenerClosed(t)
	if elapsed := time.Since(sent); elapsed < delay {
		t.Errorf("the listener closed %v after SIGTERM, before shutdown_delay (%v)", elapsed, delay)
	}
	mustRoundTrip(t, before, []byte("open tunnels drain during the grace"))

	if code := p.WaitExit(t); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	// The grace ends tunnels; the process then gives their end events up to 2 s.
	if elapsed, bound := time.Since(sent), delay+grace+5*time.Second; elapsed > bound {
		t.Errorf("exited %v after SIGTERM, more than delay + grace + 5 s (%v)", elapsed, bound)
	}
	for _, pc := range []*proxyConn{pcBefore, pcDuring} {
		checkEnd(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"}), "apple-push", "shutdown")
	}
}

// waitListenerClosed waits until the proxy listener refuses connections (one that slipped in
// before it closed is dropped at once).
func (p *Proxy) waitListenerClosed(t *testing.T) {
	t.Helper()
	waitFor(t, "the proxy listener to refuse connections", func() bool {
		c, err := dialProxy(p.Addr)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
}

// TestAdminSlowClient: a client that sends half a request head to the admin listener is
// disconnected by the server's header time-out, and other requests are served meanwhile.
func TestAdminSlowClient(t *testing.T) {
	t.Parallel()
	p := StartProxy(t, Config{Rules: []Rule{applePush(5223)}})
	c, err := net.Dial("tcp", p.AdminAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	if code, _ := p.adminGet(t, "/healthz"); code != 200 {
		t.Errorf("/healthz while a slow client holds a connection: %d", code)
	}
	// The server's header time-out is 5 s; our own deadline only bounds the test.
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the admin server kept a connection with half a request head for 20 s")
	}
}

// TestAdminPprof: /debug/pprof is 404 by default and served once admin_pprof is on, which a
// reload turns on.
func TestAdminPprof(t *testing.T) {
	t.Parallel()
	cfg := Config{Rules: []Rule{applePush(5223)}}
	p := StartProxy(t, cfg)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		if code, _ := p.adminGet(t, path); code != http.StatusNotFound {
			t.Errorf("GET %s without admin_pprof: %d, want 404", path, code)
		}
	}
	cfg.AdminPprof = true
	p.WriteConfig(t, cfg)
	p.Signal(t, syscall.SIGHUP)
	waitFor(t, "admin_pprof to take effect", func() bool { code, _ := p.adminGet(t, "/debug/pprof/cmdline"); return code == 200 })
	if code, body := p.adminGet(t, "/debug/pprof/heap?debug=1"); code != 200 || len(body) == 0 {
		t.Errorf("GET /debug/pprof/heap with admin_pprof: %d, %d bytes", code, len(body))
	}
}

// TestShutdownDrainsPlainRequest: a plain-HTTP request in flight when SIGTERM arrives (its
// origin still answering) completes, whole, after the listener has closed; then the process
// exits 0 without waiting for the grace to end.
func TestShutdownDrainsPlainRequest(t *testing.T) {
	t.Parallel()
	arrived, release := make(chan struct{}), make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		w.Write([]byte("the whole answer"))
	})}
	go origin.Serve(ln)
	t.Cleanup(func() { origin.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	p := StartProxy(t, Config{
		Rules:    []Rule{plainRule("web", "web.mdm.test", port, false)},
		Hosts:    loopbackHosts("web.mdm.test"),
		Timeouts: map[string]string{"shutdown_grace": "20s"},
	})

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := plainClientFrom("127.0.0.1", p.Addr).Get("http://web.mdm.test:" + strconv.Itoa(port) + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	select {
	case <-arrived:
	case r := <-got:
		t.Fatalf("the request ended before it reached the origin: %v", r.err)
	}
	p.Signal(t, syscall.SIGTERM)
	p.waitListenerClosed(t)
	if p.Exited() {
		t.Fatal("the process exited with a plain request in flight")
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "the whole answer" {
		t.Fatalf("the request in flight: %q, %v; want the whole answer", r.body, r.err)
	}
	if code := p.WaitExit(t); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	if p.CountLog(logMessage("shutdown grace ended; open tunnels were closed")) != 0 {
		t.Error("the process waited for the grace to end although the request had finished")
	}
}
