package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// plainOrigin is a real HTTP server on loopback that answers with what it received, so a
// test can see what the proxy passed on. /gzip answers a gzip body with Content-Encoding.
func plainOrigin(t *testing.T) (port uint16, seen chan http.Header) {
	t.Helper()
	seen = make(chan http.Header, 16)
	ln := loopbackListener(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := r.Header.Clone()
		h.Set("X-Seen-Host", r.Host)
		h.Set("X-Seen-Body", string(body))
		seen <- h
		w.Header().Set("Connection", "X-Drop-Me")
		w.Header().Set("X-Drop-Me", "hop")
		if r.URL.Path == "/gzip" {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write([]byte(strings.Repeat("compressed ", 100)))
			zw.Close()
			return
		}
		io.WriteString(w, "hello "+r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return uint16(ln.Addr().(*net.TCPAddr).Port), seen
}

// plainClient is an HTTP client that uses the proxy and keeps connections alive.
func plainClient(proxyAddr string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy:              http.ProxyURL(&url.URL{Scheme: "http", Host: proxyAddr}),
		DisableCompression: true,
	}}
}

func TestPlainForwarding(t *testing.T) {
	port, seen := plainOrigin(t)
	_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, false, allowlist.TLSRequired)}, loopbackHosts, nil)
	base := "http://origin.test:" + strconv.Itoa(int(port))
	client := plainClient(addr)

	t.Run("allowed, body and headers", func(t *testing.T) {
		req, _ := http.NewRequest("POST", base+"/echo", strings.NewReader("the body"))
		req.Header.Set("Connection", "X-Hop")
		req.Header.Set("X-Hop", "must not pass")
		req.Header.Set("Proxy-Authorization", "Basic c2VjcmV0OnNlY3JldA==")
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hello /echo" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if resp.Header.Get("X-Drop-Me") != "" || !strings.Contains(resp.Header.Get("Via"), "mdmproxy") {
			t.Errorf("response headers %v: want the Connection-named header gone and Via added", resp.Header)
		}
		h := <-seen
		if h.Get("X-Hop") != "" || h.Get("Proxy-Authorization") != "" || h.Get("X-Forwarded-For") != "" {
			t.Errorf("origin saw hop-by-hop or proxy headers: %v", h)
		}
		if h.Get("Accept-Encoding") != "gzip" || !strings.Contains(h.Get("Via"), "mdmproxy") || h.Get("X-Seen-Body") != "the body" {
			t.Errorf("origin saw %v: want the client's Accept-Encoding, Via and the body", h)
		}
		if h.Get("X-Seen-Host") != "origin.test:"+strconv.Itoa(int(port)) {
			t.Errorf("origin saw Host %q", h.Get("X-Seen-Host"))
		}
		dec := rec.wait(t, func(e events.Event) bool { return e.Method == "POST" && e.Action == events.ActionSplice })
		if dec.StatusCode != 200 || dec.Rule != "plain" || dec.URL != base+"/echo" || dec.DestIP.String() != "127.0.0.1" {
			t.Errorf("decision event %+v", dec)
		}
		end := rec.wait(t, func(e events.Event) bool { return e.Method == "POST" && e.Action == events.ActionEnd })
		if end.SourceBytes != int64(len("the body")) || end.DestBytes != int64(len("hello /echo")) || end.Reason != "eof" || end.StatusCode != 200 {
			t.Errorf("end event %+v", end)
		}
	})

	t.Run("encodings pass byte for byte", func(t *testing.T) {
		req, _ := http.NewRequest("GET", base+"/gzip", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		<-seen
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("body not passed compressed (Content-Encoding %q): %v", resp.Header.Get("Content-Encoding"), err)
		}
		plain, _ := io.ReadAll(zr)
		if string(plain) != strings.Repeat("compressed ", 100) {
			t.Errorf("decompressed %q", plain)
		}
	})

	t.Run("refused", func(t *testing.T) {
		resp, err := client.Get("http://example.com/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
		ev := rec.wait(t, func(e events.Event) bool { return e.URL == "http://example.com/" })
		if ev.Action != events.ActionDeny || ev.Reason != "no_rule" || ev.StatusCode != 403 {
			t.Errorf("event %+v", ev)
		}
	})

	t.Run("a loopback port no rule names is refused", func(t *testing.T) {
		dead := loopbackListener(t)
		deadPort := dead.Addr().(*net.TCPAddr).Port
		dead.Close()
		resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(deadPort) + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// 127.0.0.1 is in deny_cidrs, and the rule opens it only on its own port.
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403 for a loopback port no rule names", resp.StatusCode)
		}
	})
}

// A dial that fails is 502 with dial_failed, not goproxy's 500 with the error's text.
func TestPlainDialFailed(t *testing.T) {
	dead := loopbackListener(t)
	port := uint16(dead.Addr().(*net.TCPAddr).Port)
	dead.Close()
	_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, false, allowlist.TLSOptional)}, loopbackHosts, nil)
	resp, err := plainClient(addr).Get("http://origin.test:" + strconv.Itoa(int(port)) + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || strings.Contains(string(body), "127.0.0.1") {
		t.Fatalf("got %d %q, want 502 without the address", resp.StatusCode, body)
	}
	ev := rec.wait(t, func(e events.Event) bool { return e.Method == "GET" })
	if ev.Action != events.ActionSplice || ev.Outcome != events.OutcomeFailure || ev.Reason != "dial_failed" || ev.StatusCode != 502 {
		t.Errorf("event %+v", ev)
	}
}

// Each request on a kept-alive connection is read, checked and decided on its own; a refused
// head after a good one gets its 400 and event after the good one's response.
func TestPlainKeepAliveAndSmuggling(t *testing.T) {
	port, _ := plainOrigin(t)
	_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, false, allowlist.TLSRequired)}, loopbackHosts, nil)
	host := "origin.test:" + strconv.Itoa(int(port))
	good := "GET http://" + host + "/one HTTP/1.1\r\nHost: " + host + "\r\n\r\n"

	t.Run("keep-alive", func(t *testing.T) {
		c, br := rawConn(t, addr)
		for i, req := range []string{
			good,
			"POST http://" + host + "/two HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
			"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
			good,
		} {
			io.WriteString(c, req)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := []int{200, 200, 403, 200}[i]
			if resp.StatusCode != want {
				t.Fatalf("request %d: %d %q, want %d", i, resp.StatusCode, body, want)
			}
		}
	})

	for _, tt := range []struct{ name, req string }{
		{"two Host headers", "GET http://" + host + "/ HTTP/1.1\r\nHost: " + host + "\r\nHost: example.com\r\n\r\n"},
		{"Host disagrees with the URI", "GET http://" + host + "/ HTTP/1.1\r\nHost: example.com\r\n\r\n"},
		{"Content-Length and Transfer-Encoding", "POST http://" + host + "/ HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"two Content-Lengths", "POST http://" + host + "/ HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
		{"a coding other than chunked", "POST http://" + host + "/ HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, br := rawConn(t, addr)
			// After a good request, so the refusal comes on a kept-alive connection.
			io.WriteString(c, good)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("first request: %v %v", resp, err)
			}
			io.Copy(io.Discard, resp.Body)
			io.WriteString(c, tt.req)
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			src := uint16(c.LocalAddr().(*net.TCPAddr).Port)
			ev := rec.wait(t, func(e events.Event) bool { return e.SourcePort == src && e.Reason == "bad_request" })
			if ev.Action != events.ActionDeny || ev.StatusCode != 400 {
				t.Errorf("event %+v", ev)
			}
		})
	}
}

// A reload reaches kept-alive plain-HTTP connections: the next request on the same connection
// is decided by the new policy.
func TestPlainReloadReachesKeptAliveConnections(t *testing.T) {
	port, _ := plainOrigin(t)
	srv, addr, _ := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, false, allowlist.TLSOptional)}, loopbackHosts, nil)
	client := plainClient(addr)
	u := "http://origin.test:" + strconv.Itoa(int(port)) + "/"
	get := func() int {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	var conns int
	client.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
		conns++
		var d net.Dialer
		return d.DialContext(ctx, network, a)
	}
	if s := get(); s != 200 {
		t.Fatalf("before the reload: %d", s)
	}
	pol, err := allowlist.Compile(allowlist.Spec{Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Update(&Settings{Policy: pol, Hosts: loopbackHosts})
	if s := get(); s != http.StatusForbidden {
		t.Fatalf("after the reload: %d, want 403", s)
	}
	if conns != 1 {
		t.Errorf("%d connections to the proxy, want both requests on one", conns)
	}
}
