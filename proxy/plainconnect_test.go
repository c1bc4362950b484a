package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// A CONNECT after the first request of a plain-HTTP connection never reaches goproxy's own
// CONNECT handler (which would dial with no check and no event): it is refused with 400 and
// a deny event, and the connection ends.
func TestPlainLateConnectRefused(t *testing.T) {
	port, _ := plainOrigin(t)
	echo := echoServer(t)
	_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, false, allowlist.TLSOptional)}, loopbackHosts, nil)
	host := "origin.test:" + strconv.Itoa(int(port))
	echoHost := "127.0.0.1:" + strconv.Itoa(int(echo))
	first := "GET http://" + host + "/one HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	for _, late := range []string{
		"CONNECT http://" + echoHost + "/ HTTP/1.1\r\nHost: " + echoHost + "\r\n\r\n",
		"CONNECT / HTTP/1.1\r\nHost: " + echoHost + "\r\n\r\n",
	} {
		c, br := rawConn(t, addr)
		io.WriteString(c, first)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("first request: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		io.WriteString(c, late)
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", late, err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", late, resp.StatusCode)
		}
		// The refusal ends the connection: a request sent after it is not served.
		io.WriteString(c, first)
		if resp, err := http.ReadResponse(br, nil); err == nil {
			t.Errorf("%q: the connection served another request after the refusal: %d", late, resp.StatusCode)
		}
		src := uint16(c.LocalAddr().(*net.TCPAddr).Port)
		ev := rec.wait(t, func(e events.Event) bool { return e.SourcePort == src && e.Method == http.MethodConnect })
		if ev.Action != events.ActionDeny || ev.Reason != "bad_request" || ev.StatusCode != 400 {
			t.Errorf("%q: event %+v", late, ev)
		}
	}
}

// goproxy's CONNECT dialler always fails, so that no path that reaches goproxy's CONNECT
// handler can open a tunnel past the admission step.
func TestGoproxyNeverDialsConnect(t *testing.T) {
	echo := echoServer(t)
	srv := httptest.NewServer(newGoproxy())
	t.Cleanup(srv.Close)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	target := "127.0.0.1:" + strconv.Itoa(int(echo))
	io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
	if err == nil && resp.StatusCode == http.StatusOK {
		t.Fatalf("goproxy opened a tunnel to %s", target)
	}
}

// rawConn dials the proxy for a test that writes its own bytes; closed when the test ends.
func rawConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}
