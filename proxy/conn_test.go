package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

func TestSilentClientGetsNoEvent(t *testing.T) {
	_, addr, rec := testProxy(t, nil, nil, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// A second client that says something bad does get an event, and it is the only one.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("BAD REQUEST LINE\r\n\r\n"))
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(c2)
	ev := rec.wait(t, func(e events.Event) bool { return true })
	if ev.SourcePort != uint16(c2.LocalAddr().(*net.TCPAddr).Port) || ev.Reason != allowlist.ReasonBadRequest.String() {
		t.Errorf("first event %+v; want the bad request of the second client", ev)
	}
}

// Refusals and failures tell the client a fixed line: the Go error's text would show the
// address the name resolved to, the proxy's own address and its network state.
func TestRefusalBodiesAreFixedLines(t *testing.T) {
	dead := loopbackListener(t)
	port := uint16(dead.Addr().(*net.TCPAddr).Port)
	dead.Close()
	_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, false, allowlist.TLSOptional)}, loopbackHosts,
		func(s *Settings) { s.Timeouts.Header = 300 * time.Millisecond })
	for _, tt := range []struct {
		name, request, status, body, reason string
	}{
		{"dial failed", "CONNECT origin.test:" + strconv.Itoa(int(port)) + " HTTP/1.1\r\n\r\n", "502",
			"mdmproxy: dial_failed: the destination could not be reached\n", allowlist.ReasonDialFailed.String()},
		{"header timeout", "CONNECT origin.test:443 HTTP/1.1\r\n", "408",
			"mdmproxy: header_timeout: the request head did not arrive in time\n", allowlist.ReasonHeaderTimeout.String()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reply, src := roundTripRaw(t, addr, tt.request)
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(reply)), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.HasPrefix(resp.Status, tt.status) || string(body) != tt.body {
				t.Errorf("reply %s %q; want %s %q", resp.Status, body, tt.status, tt.body)
			}
			ev := rec.wait(t, func(e events.Event) bool { return e.SourcePort == src })
			if ev.Reason != tt.reason {
				t.Errorf("event %+v; want %s", ev, tt.reason)
			}
		})
	}
}

// A client outside clients is refused right after accept, before anything is read: one
// client_not_allowed event whatever it sends (or nothing at all), never a header time-out,
// and no request of its answered by the HTTP server.
func TestOutsiderRefusedAtAccept(t *testing.T) {
	pol, err := allowlist.Compile(allowlist.Spec{
		Clients:   []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, // not the tests' 127.0.0.1
		DenyCIDRs: allowlist.DefaultDenyCIDRs,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, addr, rec := testProxy(t, nil, nil, func(s *Settings) { s.Policy = pol; s.Timeouts.Header = time.Minute })
	for _, tt := range []struct{ name, send string }{
		{"silent", ""},
		{"CONNECT", "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n"},
		{"origin form", "GET / HTTP/1.1\r\nHost: proxy\r\n\r\n"},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: proxy\r\n\r\n"},
		{"plain", "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n"},
		{"half a head", "GET http://origin.test/ HTTP/1.1\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			port := uint16(c.LocalAddr().(*net.TCPAddr).Port)
			// Nothing sent or a request: the refusal comes at once, without waiting for a head
			// (the header time-out is a minute), and is not lost to a reset of the unread request.
			c.Write([]byte(tt.send))
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			reply, err := io.ReadAll(c)
			if err != nil || !strings.HasPrefix(string(reply), "HTTP/1.1 403 ") {
				t.Fatalf("reply %q, %v; want a 403 at once", reply, err)
			}
			// The connection is closed, so its events are all in.
			rec.wait(t, func(e events.Event) bool { return e.SourcePort == port })
			var mine []events.Event
			rec.mu.Lock()
			for _, e := range rec.evs {
				if e.SourcePort == port {
					mine = append(mine, e)
				}
			}
			rec.mu.Unlock()
			if len(mine) != 1 || mine[0].Reason != allowlist.ReasonClientNotAllowed.String() {
				t.Fatalf("events %+v; want one client_not_allowed", mine)
			}
		})
	}
}
