package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// v2Header is a PROXY v2 header (PROXY command) naming src as the client.
func v2Header(t testing.TB, src string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3128})
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dialFrom connects to addr from the loopback address local (port chosen by the kernel).
func dialFrom(t *testing.T, local, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// TestProxyProtocol: a trusted balancer's v1 and v2 headers make the named client the
// connection's client (events, clients check) with the balancer in the event, on a tunnel that
// still splices between raw TCP sockets; a LOCAL header keeps the balancer as the client; a
// trusted source without a header, a bad header, and a header from an untrusted source are
// refused with an event and no HTTP answer.
func TestProxyProtocol(t *testing.T) {
	port := echoServer(t)
	srv, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, false, allowlist.TLSOptional)}, loopbackHosts,
		func(s *Settings) {
			s.ProxyProtocolTrusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			s.Timeouts.Header = time.Second
		})
	target := "origin.test:" + strconv.Itoa(int(port))
	connect := "CONNECT " + target + " HTTP/1.1\r\n\r\n"
	bySource := func(c net.Conn) func(events.Event) bool {
		p := c.LocalAddr().(*net.TCPAddr).Port
		return func(e events.Event) bool { return e.Balancer.Port() == uint16(p) || int(e.SourcePort) == p }
	}

	for _, tt := range []struct {
		name   string
		header []byte
		client string // the client the events must show
	}{
		{"v1", []byte("PROXY TCP4 127.0.0.9 127.0.0.1 40001 3128\r\n"), "127.0.0.9:40001"},
		{"v1 IPv6, mapped IPv4", []byte("PROXY TCP6 ::ffff:127.0.0.7 ::1 40002 3128\r\n"), "127.0.0.7:40002"},
		{"v2", v2Header(t, "127.0.0.8:40003"), "127.0.0.8:40003"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialFrom(t, "127.0.0.1", addr)
			c.Write(append(tt.header, connect...))
			br := bufio.NewReader(c)
			if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 200") {
				t.Fatalf("reply %q", line)
			}
			br.ReadString('\n')
			c.Write([]byte("ping"))
			if b := make([]byte, 4); mustReadFull(t, br, b) != "ping" {
				t.Fatal("no echo")
			}
			ev := rec.wait(t, func(e events.Event) bool { return bySource(c)(e) && e.Action == events.ActionSplice })
			if got := netip.AddrPortFrom(ev.SourceIP, ev.SourcePort).String(); got != tt.client {
				t.Errorf("event source %s, want %s", got, tt.client)
			}
			if ev.Balancer.String() != c.LocalAddr().String() {
				t.Errorf("event balancer %s, want the peer %s", ev.Balancer, c.LocalAddr())
			}
			// The tunnel's client leg is still the raw socket: splice and parking work on it.
			srv.mu.Lock()
			for tun := range srv.tunnels {
				if _, ok := tun.client.(*net.TCPConn); !ok && tun.facts.sourcePort == ev.SourcePort {
					t.Errorf("the tunnel's client connection is a %T, not a *net.TCPConn", tun.client)
				}
			}
			srv.mu.Unlock()
		})
	}

	t.Run("v2 LOCAL keeps the balancer as the client", func(t *testing.T) {
		local, _ := (&proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}).Format()
		c := dialFrom(t, "127.0.0.1", addr)
		c.Write(append(local, "CONNECT example.com:443 HTTP/1.1\r\n\r\n"...))
		ev := rec.wait(t, bySource(c))
		if ev.SourceIP.String() != "127.0.0.1" || ev.Reason != "no_rule" || ev.Balancer.IsValid() {
			t.Errorf("event %+v, want the balancer itself as the client, refused by policy", ev)
		}
	})

	t.Run("plain HTTP sees the named client", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", addr)
		c.Write([]byte("PROXY TCP4 127.0.0.5 127.0.0.1 40008 3128\r\nGET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		reply, _ := io.ReadAll(c)
		if !strings.HasPrefix(string(reply), "HTTP/1.1 403") {
			t.Errorf("reply %q, want 403 (no rule)", reply)
		}
		ev := rec.wait(t, func(e events.Event) bool { return e.SourcePort == 40008 })
		if ev.SourceIP.String() != "127.0.0.5" || ev.Method != "GET" || ev.Balancer.String() != c.LocalAddr().String() {
			t.Errorf("plain event from %s via %s (%s), want 127.0.0.5 via %s", ev.SourceIP, ev.Balancer, ev.Method, c.LocalAddr())
		}
	})

	t.Run("client outside clients", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", addr)
		c.Write(append([]byte("PROXY TCP4 10.9.9.9 127.0.0.1 40004 3128\r\n"), connect...))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		reply, _ := io.ReadAll(c)
		if !strings.HasPrefix(string(reply), "HTTP/1.1 403") {
			t.Errorf("reply %q, want 403", reply)
		}
		ev := rec.wait(t, bySource(c))
		if ev.SourceIP.String() != "10.9.9.9" || ev.Reason != "client_not_allowed" {
			t.Errorf("event %s %s from %s, want client_not_allowed from 10.9.9.9", ev.Action, ev.Reason, ev.SourceIP)
		}
	})

	for _, tt := range []struct {
		name, from string
		send       []byte
		reason     string
	}{
		{"trusted without a header", "127.0.0.1", []byte(connect), "proxy_header_missing"},
		{"trusted with a bad header", "127.0.0.1", []byte("PROXY TCP4 nonsense\r\n" + connect), "bad_proxy_header"},
		// The library drops a partial v1 line at once (it reads byte by byte, for slow loris).
		{"trusted with half a v1 header", "127.0.0.1", []byte("PROXY TCP4 127.0.0.9"), "bad_proxy_header"},
		{"trusted with half a v2 header", "127.0.0.1", v2Header(t, "127.0.0.9:40007")[:20], "header_timeout"},
		{"trusted and silent", "127.0.0.1", nil, "header_timeout"},
		{"v2 naming a UDP source", "127.0.0.1", append(udpHeader(t), connect...), "bad_proxy_header"},
		{"v1 from an untrusted source", "127.0.0.2", []byte("PROXY TCP4 127.0.0.9 127.0.0.1 40005 3128\r\n" + connect), "proxy_header_untrusted"},
		{"v2 from an untrusted source", "127.0.0.2", append(v2Header(t, "127.0.0.9:40006"), connect...), "proxy_header_untrusted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialFrom(t, tt.from, addr)
			c.Write(tt.send)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			reply, _ := io.ReadAll(c)
			if tt.reason != "header_timeout" && len(reply) != 0 {
				t.Errorf("reply %q, want the connection closed without an answer", reply)
			}
			ev := rec.wait(t, bySource(c))
			if ev.Action != events.ActionDeny || ev.Reason != tt.reason {
				t.Errorf("event %s %s, want deny %s", ev.Action, ev.Reason, tt.reason)
			}
			if ev.SourceIP.String() != tt.from {
				t.Errorf("event source %s, want the peer %s: nothing of a refused header is believed", ev.SourceIP, tt.from)
			}
		})
	}

	t.Run("trusted source that connects and leaves: no event", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", addr)
		c.CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if reply, err := io.ReadAll(c); err != nil || len(reply) != 0 {
			t.Fatalf("reply %q, %v: want a close", reply, err)
		}
		// The proxy closed the connection, and emits before it closes: any event is in.
		port := uint16(c.LocalAddr().(*net.TCPAddr).Port)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, e := range rec.evs {
			if e.SourcePort == port {
				t.Errorf("an event for a balancer's bare TCP check: %+v", e)
			}
		}
	})

	t.Run("untrusted source without a header", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.2", addr)
		c.Write([]byte(connect))
		br := bufio.NewReader(c)
		if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("reply %q", line)
		}
	})
}

// udpHeader is a PROXY v2 header for a UDP flow, which a TCP proxy cannot take.
func udpHeader(t testing.TB) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(2, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 53}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53})
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustReadFull(t *testing.T, r io.Reader, b []byte) string {
	t.Helper()
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// discardConn is a connection whose writes vanish, for the fuzz target: the session reads
// from its own buffered reader, never from the connection.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzReadProxyHeader: whatever a trusted or untrusted peer sends first, reading the PROXY
// header neither panics nor believes an untrusted source, and an accepted header leaves the
// bytes after it for the request head.
func FuzzReadProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 127.0.0.9 127.0.0.1 40001 3128\r\nCONNECT a:1 HTTP/1.1\r\n\r\n"), true)
	f.Add([]byte("PROXY UNKNOWN\r\nGET / HTTP/1.1\r\n\r\n"), true)
	f.Add(append(v2Header(f, "127.0.0.8:40003"), "CONNECT a:1 HTTP/1.1\r\n\r\n"...), true)
	f.Add(append(v2Header(f, "[::1]:40003"), "x"...), false)
	f.Add([]byte("PROXY TCP6 ::1"), true)
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"), true)
	f.Add([]byte("CONNECT a:1 HTTP/1.1\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, trusted bool) {
		set := &Settings{Limits: DefaultLimits}
		if trusted {
			set.ProxyProtocolTrusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		}
		peer := netip.MustParseAddrPort("127.0.0.1:1")
		ss := &session{srv: &Server{}, set: set, conn: discardConn{}, client: peer}
		ss.lr = io.LimitedReader{R: bytes.NewReader(data), N: int64(set.Limits.MaxHeaderBytes)}
		ss.br = bufio.NewReaderSize(&ss.lr, 4096)
		ok := ss.readProxyHeader()
		if !trusted && (ss.client != peer || ss.balancer.IsValid()) {
			t.Fatalf("an untrusted source's bytes changed the client to %s", ss.client)
		}
		if !ok {
			return
		}
		if ss.balancer.IsValid() && (ss.balancer != peer || !ss.client.IsValid()) {
			t.Fatalf("accepted: client %s balancer %s", ss.client, ss.balancer)
		}
		if !trusted {
			rest, _ := io.ReadAll(ss.br)
			if !bytes.Equal(rest, data[:min(len(data), len(rest))]) || len(rest) != len(data) {
				t.Fatal("an untrusted source's bytes were consumed")
			}
		}
	})
}

// TestProxyProtocolLimitsPerClient: limits.max_tunnels_per_client counts the clients a trusted
// balancer names, not the balancer: one client over its limit is refused with 429 while
// another client behind the same balancer gets its tunnel.
func TestProxyProtocolLimitsPerClient(t *testing.T) {
	port := echoServer(t)
	_, addr, _ := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, false, allowlist.TLSOptional)}, loopbackHosts,
		func(s *Settings) {
			s.ProxyProtocolTrusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			s.Limits.MaxTunnelsPerClient = 1
		})
	target := "origin.test:" + strconv.Itoa(int(port))
	header := func(client string, port int) string {
		return "PROXY TCP4 " + client + " 127.0.0.1 " + strconv.Itoa(port) + " 3128\r\n"
	}
	connectWith(t, addr, header("127.0.0.20", 41000), target) // 127.0.0.20's one tunnel, held open

	c := dialFrom(t, "127.0.0.1", addr)
	io.WriteString(c, header("127.0.0.20", 41001)+"CONNECT "+target+" HTTP/1.1\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if reply, _ := io.ReadAll(c); !strings.HasPrefix(string(reply), "HTTP/1.1 429") {
		t.Errorf("a second tunnel for 127.0.0.20: %q, want 429", reply)
	}
	connectWith(t, addr, header("127.0.0.21", 41002), target) // another client behind the same balancer
}
