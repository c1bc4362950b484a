package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func TestTLSTunnelCarriesBulkData(t *testing.T) {
	port, pool := tlsEchoServer(t, "courier.push.apple.com")
	_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("apple-push", port, true, allowlist.TLSRequired)}, loopbackHosts, nil)
	c := connectTo(t, addr, "courier.push.apple.com:"+strconv.Itoa(int(port)))
	tc := tls.Client(c, &tls.Config{ServerName: "courier.push.apple.com", RootCAs: pool})
	payload := make([]byte, 8<<20)
	rand.Read(payload)
	go func() { tc.Write(payload) }()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(tc, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("echoed bytes differ")
	}
	tc.Close()
	dec := rec.wait(t, byAction(events.ActionSplice))
	if dec.Rule != "apple-push" || dec.SNI != "courier.push.apple.com" || dec.DestIP.String() != "127.0.0.1" {
		t.Errorf("decision event %+v", dec)
	}
	end := rec.wait(t, byAction(events.ActionEnd))
	if end.SourceBytes < int64(len(payload)) || end.DestBytes < int64(len(payload)) {
		t.Errorf("end event counts %d up, %d down; want at least %d each", end.SourceBytes, end.DestBytes, len(payload))
	}
}

func TestEagerClientHelloIsNotLost(t *testing.T) {
	port, pool := tlsEchoServer(t, "courier.push.apple.com")
	_, addr, _ := testProxy(t, []allowlist.Rule{loopbackRule("apple-push", port, true, allowlist.TLSRequired)}, loopbackHosts, nil)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	target := "courier.push.apple.com:" + strconv.Itoa(int(port))
	// The CONNECT and the ClientHello leave in one write, before the 200 is read.
	ec := &eagerConn{Conn: raw, prefix: []byte("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n")}
	tc := tls.Client(ec, &tls.Config{ServerName: "courier.push.apple.com", RootCAs: pool})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake through an eager CONNECT: %v", err)
	}
	if _, err := tc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(tc, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
}

// eagerConn sends prefix glued to the first write and swallows the proxy's 200 before the
// first read, as a client that does not wait for the 200 does.
type eagerConn struct {
	net.Conn
	prefix  []byte
	skipped bool
}

func (c *eagerConn) Write(p []byte) (int, error) {
	if c.prefix != nil {
		buf := append(c.prefix, p...)
		c.prefix = nil
		if _, err := c.Conn.Write(buf); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *eagerConn) Read(p []byte) (int, error) {
	if !c.skipped {
		c.skipped = true
		want := "HTTP/1.1 200 Connection established\r\n\r\n"
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c.Conn, got); err != nil {
			return 0, err
		}
		if string(got) != want {
			return 0, fmt.Errorf("unexpected reply %q", got)
		}
	}
	return c.Conn.Read(p)
}

func TestHalfCloseBothWays(t *testing.T) {
	port := echoServer(t)
	_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, false, allowlist.TLSOptional)}, loopbackHosts, nil)
	c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	// The client finishes sending; the echo server sees EOF, answers what it had, and finishes too.
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello" {
		t.Fatalf("after half-close got %q, %v", got, err)
	}
	end := rec.wait(t, byAction(events.ActionEnd))
	if end.Reason != allowlist.ReasonEOF.String() || end.SourceBytes != 5 || end.DestBytes != 5 {
		t.Errorf("end event %+v", end)
	}
}

func TestHalfClosedTunnelIsReaped(t *testing.T) {
	// An origin that reads to EOF and then never answers nor closes.
	ln := loopbackListener(t)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
		time.Sleep(5 * time.Second)
		c.Close()
	}()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, true, allowlist.TLSOptional)}, loopbackHosts,
		func(s *Settings) { s.Timeouts.HalfClose = 300 * time.Millisecond })
	c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	c.Write([]byte("x"))
	c.(*net.TCPConn).CloseWrite()
	end := rec.wait(t, byAction(events.ActionEnd))
	if end.Reason != allowlist.ReasonHalfCloseTimeout.String() {
		t.Errorf("end reason %q, want %q", end.Reason, allowlist.ReasonHalfCloseTimeout.String())
	}
}

func TestIdleTimeout(t *testing.T) {
	port := echoServer(t)
	for _, persistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistent=%v", persistent), func(t *testing.T) {
			_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, persistent, allowlist.TLSOptional)}, loopbackHosts,
				func(s *Settings) { s.Timeouts.Idle = 200 * time.Millisecond })
			c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
			roundTrip := func() error {
				c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Write([]byte("ping")); err != nil {
					return err
				}
				buf := make([]byte, 4)
				_, err := io.ReadFull(c, buf)
				return err
			}
			if err := roundTrip(); err != nil {
				t.Fatal(err)
			}
			if !persistent {
				end := rec.wait(t, byAction(events.ActionEnd))
				if end.Reason != allowlist.ReasonIdleTimeout.String() {
					t.Errorf("end reason %q, want %q", end.Reason, allowlist.ReasonIdleTimeout.String())
				}
				return
			}
			// Persistent: still alive well past the idle time-out.
			time.Sleep(600 * time.Millisecond)
			if err := roundTrip(); err != nil {
				t.Fatalf("persistent tunnel died while idle: %v", err)
			}
		})
	}
}

func TestRefusalsBeforeTheTunnel(t *testing.T) {
	port := echoServer(t)
	_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, false, allowlist.TLSOptional)}, loopbackHosts,
		func(s *Settings) { s.Limits.MaxHeaderBytes = 1024 })
	for _, tt := range []struct {
		name, request string
		status        int
		reason        string
	}{
		{"no rule", "CONNECT example.com:443 HTTP/1.1\r\n\r\n", 403, "no_rule"},
		{"port", "CONNECT origin.test:1 HTTP/1.1\r\n\r\n", 403, "port_not_allowed"},
		{"loopback literal", "CONNECT 127.0.0.2:" + strconv.Itoa(int(port)) + " HTTP/1.1\r\n\r\n", 403, "denied_address"},
		{"bad target", "CONNECT a..b:443 HTTP/1.1\r\n\r\n", 400, "bad_target"},
		{"no port", "CONNECT [::1] HTTP/1.1\r\n\r\n", 400, "bad_target"},
		{"not utf-8", "CONNECT \xff.push.apple.com:443 HTTP/1.1\r\n\r\n", 400, "bad_target"},
		{"garbage", "\x16\x03\x01garbage\r\n\r\n", 400, "bad_request"},
		{"header too large", "CONNECT origin.test:443 HTTP/1.1\r\nX: " + strings.Repeat("a", 2048) + "\r\n\r\n", 431, "header_too_large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte(tt.request))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			reply, _ := io.ReadAll(c)
			if want := "HTTP/1.1 " + strconv.Itoa(tt.status) + " "; !strings.HasPrefix(string(reply), want) {
				t.Fatalf("reply %q, want %q", reply, want)
			}
			src := c.LocalAddr().(*net.TCPAddr).Port
			ev := rec.wait(t, func(e events.Event) bool { return int(e.SourcePort) == src })
			if ev.Action != events.ActionDeny || ev.Reason != tt.reason {
				t.Errorf("event %s %s, want deny %s", ev.Action, ev.Reason, tt.reason)
			}
		})
	}
}
