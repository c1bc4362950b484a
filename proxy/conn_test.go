package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
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
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte(tt.request))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.HasPrefix(resp.Status, tt.status) || string(body) != tt.body {
				t.Errorf("reply %s %q; want %s %q", resp.Status, body, tt.status, tt.body)
			}
			src := c.LocalAddr().(*net.TCPAddr).Port
			ev := rec.wait(t, func(e events.Event) bool { return int(e.SourcePort) == src })
			if ev.Reason != tt.reason {
				t.Errorf("event %+v; want %s", ev, tt.reason)
			}
		})
	}
}
