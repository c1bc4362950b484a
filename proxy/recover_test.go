package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// A panic while one connection is set up ends that connection with an internal_error event
// and leaves the server serving others.
func TestPanicEndsOnlyItsConnection(t *testing.T) {
	port := echoServer(t)
	pol, err := allowlist.Compile(allowlist.Spec{
		Rules:   []allowlist.Rule{loopbackRule("plain", port, false, allowlist.TLSOptional)},
		Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	srv := &Server{Events: rec, Lookup: func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		if host == "courier.push.apple.com" {
			panic("lookup exploded")
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}}
	srv.Update(&Settings{Policy: pol})
	addr := startServer(t, srv)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "CONNECT courier.push.apple.com:"+strconv.Itoa(int(port))+" HTTP/1.1\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("panicking connection read %q, %v; want a plain close", b, err)
	}
	ev := rec.wait(t, func(e events.Event) bool { return e.Reason == "internal_error" })
	if ev.Action != events.ActionDeny || ev.Outcome != events.OutcomeFailure {
		t.Errorf("event %+v, want a failed deny", ev)
	}
	if srv.Metrics().Panics.Load() != 1 {
		t.Errorf("panics counted %d, want 1", srv.Metrics().Panics.Load())
	}
	if n := srv.Metrics().Denied.Load(); n != 1 { // counted like every refusal
		t.Errorf("denied counted %d, want 1", n)
	}
	// The server still carries tunnels.
	tc := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(tc, "still here")
	buf := make([]byte, len("still here"))
	if _, err := io.ReadFull(tc, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("after the panic, a tunnel echoed %q, %v", buf, err)
	}
}

// deadlineBomb is a dialled connection that panics when the set-up sets its write deadline,
// which the splice does first: a panic past the dial.
type deadlineBomb struct{ net.Conn }

func (deadlineBomb) SetWriteDeadline(time.Time) error { panic("origin exploded") }

// startServer serves srv on loopback until the test ends.
func startServer(t *testing.T, srv *Server) string {
	t.Helper()
	ln := loopbackListener(t)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(100 * time.Millisecond)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// A panic after the dial closes the origin connection too, not only the client's.
func TestPanicClosesOrigin(t *testing.T) {
	ln := loopbackListener(t)
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	srv := &Server{Events: newRecorder(), Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return deadlineBomb{c}, nil
	}}
	srv.Update(&Settings{Policy: compileLoopback(t, loopbackRule("plain", port, false, allowlist.TLSOptional)), Hosts: loopbackHosts})
	addr := startServer(t, srv)

	c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	defer c.Close()
	io.WriteString(c, "not TLS") // TLS optional: passes, and the splice starts
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("panicking connection read %q, %v; want a plain close", b, err)
	}
	var origin net.Conn
	select {
	case origin = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the origin was never dialled")
	}
	defer origin.Close()
	origin.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := origin.Read(make([]byte, 16)); !errors.Is(err, io.EOF) {
		t.Fatalf("the origin's connection after the panic: %v, want EOF (closed)", err)
	}
	if n := srv.Metrics().Panics.Load(); n != 1 {
		t.Errorf("panics counted %d, want 1", n)
	}
}

// A panic in a plain-HTTP request is logged and counted like any other, and drops only that
// request's connection.
func TestPlainPanicCounted(t *testing.T) {
	port, _ := plainOrigin(t)
	srv := &Server{Events: newRecorder(), Lookup: func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		panic("lookup exploded")
	}}
	pol, err := allowlist.Compile(allowlist.Spec{DefaultAction: allowlist.Allow, Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Update(&Settings{Policy: pol, Hosts: loopbackHosts}) // boom.test is not in the hosts: Lookup
	addr := startServer(t, srv)
	client := plainClient(addr)
	if resp, err := client.Get("http://boom.test:" + strconv.Itoa(int(port)) + "/"); err == nil {
		resp.Body.Close()
		t.Fatalf("the panicking request was answered %d", resp.StatusCode)
	}
	if n := srv.Metrics().Panics.Load(); n != 1 {
		t.Errorf("panics counted %d, want 1", n)
	}
	resp, err := client.Get("http://origin.test:" + strconv.Itoa(int(port)) + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after the panic: %d", resp.StatusCode)
	}
}
