package proxy

import (
	"context"
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
	ln := loopbackListener(t)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(100 * time.Millisecond)
		defer cancel()
		srv.Shutdown(ctx)
	})
	addr := ln.Addr().String()
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
	// The server still carries tunnels.
	tc := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(tc, "still here")
	buf := make([]byte, len("still here"))
	if _, err := io.ReadFull(tc, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("after the panic, a tunnel echoed %q, %v", buf, err)
	}
}
