package pac_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/proxy/pac"
)

type recorder struct {
	mu     sync.Mutex
	events []events.Event
}

func (r *recorder) Emit(e *events.Event) {
	r.mu.Lock()
	r.events = append(r.events, *e)
	r.mu.Unlock()
}

func (r *recorder) all() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.events...)
}

// serveHandler starts an HTTP server on loopback with h, stopped when the test ends.
func serveHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

type response struct {
	status int
	header http.Header
	body   string
}

// fetch sends one request with the given Host and headers.
func fetch(t *testing.T, method, url, host string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func mustGenerate(t *testing.T, o pac.Options) *pac.File {
	t.Helper()
	f, err := pac.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func proxyLine(body string) string {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "var mdmproxy = ") {
			return l
		}
	}
	return ""
}

func TestHandler(t *testing.T) {
	pol := testPolicy(t)
	f := mustGenerate(t, pac.Options{Policy: pol})
	h := &pac.Handler{}
	url := serveHandler(t, h)

	if r := fetch(t, "GET", url+"/proxy.pac", ""); r.status != http.StatusServiceUnavailable {
		t.Errorf("before Update: %d, want 503", r.status)
	}
	if err := h.Update(f, pol, ""); err != nil {
		t.Fatal(err)
	}

	t.Run("served", func(t *testing.T) {
		for _, path := range pac.Paths {
			r := fetch(t, "GET", url+path, "MDMProxy.School.LAN:3128")
			want, _ := f.Script("mdmproxy.school.lan:3128")
			if r.status != 200 || r.body != string(want.Bytes()) {
				t.Fatalf("%s: %d, body is the script for the Host: %v", path, r.status, r.body == string(want.Bytes()))
			}
			if ct := r.header.Get("Content-Type"); ct != pac.ContentType {
				t.Errorf("Content-Type %q", ct)
			}
			if r.header.Get("ETag") != want.ETag || r.header.Get("Cache-Control") != "max-age=300" {
				t.Errorf("ETag %q (want %q), Cache-Control %q", r.header.Get("ETag"), want.ETag, r.header.Get("Cache-Control"))
			}
			if v := r.header.Get("Vary"); v != "Host" {
				t.Errorf("without pac.proxy the body depends on the Host: Vary %q, want Host", v)
			}
		}
	})

	t.Run("proxy address", func(t *testing.T) {
		for _, tc := range []struct{ host, want string }{
			{"mdmproxy.school.lan:3128", "PROXY mdmproxy.school.lan:3128"},
			{"mdmproxy.school.lan", "PROXY mdmproxy.school.lan:80"},
			{"10.0.0.5:8080", "PROXY 10.0.0.5:8080"},
			{"[2001:db8::5]:3128", "PROXY [2001:db8::5]:3128"},
			{"bad\"host:3128", "PROXY 127.0.0.1:"}, // not a host name: the local address
		} {
			r := fetch(t, "GET", url+"/proxy.pac", tc.host)
			if !strings.HasPrefix(proxyLine(r.body), `var mdmproxy = "`+tc.want) {
				t.Errorf("Host %q: %q, want %q", tc.host, proxyLine(r.body), tc.want)
			}
		}
		own := serveHandler(t, h.OwnListener(3128))
		r := fetch(t, "GET", own+"/wpad.dat", "wpad")
		if got := proxyLine(r.body); got != `var mdmproxy = "PROXY wpad:3128";` {
			t.Errorf("own listener, Host wpad: %q", got)
		}
		r = fetch(t, "GET", own+"/wpad.dat", "wpad.school.lan:80")
		if got := proxyLine(r.body); got != `var mdmproxy = "PROXY wpad.school.lan:3128";` {
			t.Errorf("own listener, Host wpad.school.lan:80: %q", got)
		}
	})

	t.Run("etag", func(t *testing.T) {
		r := fetch(t, "GET", url+"/proxy.pac", "p:1")
		etag := r.header.Get("ETag")
		if r2 := fetch(t, "GET", url+"/proxy.pac", "p:1", "If-None-Match", etag); r2.status != http.StatusNotModified || r2.body != "" {
			t.Errorf("If-None-Match %s: %d with %d bytes, want 304 and none", etag, r2.status, len(r2.body))
		}
		if r2 := fetch(t, "GET", url+"/proxy.pac", "p:2", "If-None-Match", etag); r2.status != 200 {
			t.Errorf("another proxy address, old ETag: %d, want 200", r2.status)
		}
		// A reload with another policy: another file, another ETag.
		other, err := allowlist.Compile(allowlist.Spec{Rules: []allowlist.Rule{{Name: "x", Domains: []string{"x.example"}, Ports: ports(allowlist.PortRange{Lo: 443, Hi: 443})}}, Clients: prefixes("127.0.0.0/8")})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Update(mustGenerate(t, pac.Options{Policy: other}), other, "mdmproxy.school.lan:3128"); err != nil {
			t.Fatal(err)
		}
		defer h.Update(f, pol, "")
		r2 := fetch(t, "GET", url+"/proxy.pac", "p:1", "If-None-Match", etag)
		if r2.status != 200 || r2.header.Get("ETag") == etag || !strings.Contains(r2.body, `"x.example"`) {
			t.Errorf("after Update: %d, ETag %q (was %q)", r2.status, r2.header.Get("ETag"), etag)
		}
		if got := proxyLine(r2.body); got != `var mdmproxy = "PROXY mdmproxy.school.lan:3128";` {
			t.Errorf("pac.proxy does not win over the Host: %q", got)
		}
		if v := r2.header.Get("Vary"); v != "" {
			t.Errorf("with pac.proxy the body does not depend on the Host: Vary %q", v)
		}
		if r3 := fetch(t, "GET", url+"/proxy.pac", "p:1", "If-None-Match", r2.header.Get("ETag")); r3.status != http.StatusNotModified || r3.header.Get("Vary") != "" {
			t.Errorf("304 with pac.proxy: %d, Vary %q", r3.status, r3.header.Get("Vary"))
		}
	})

	t.Run("methods and paths", func(t *testing.T) {
		if r := fetch(t, "HEAD", url+"/proxy.pac", "p:1"); r.status != 200 || r.body != "" || r.header.Get("Content-Length") == "" {
			t.Errorf("HEAD: %d, %d bytes, Content-Length %q", r.status, len(r.body), r.header.Get("Content-Length"))
		}
		if r := fetch(t, "POST", url+"/proxy.pac", "p:1"); r.status != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d", r.status)
		}
		for _, p := range []string{"/", "/proxy.pac/", "/PROXY.PAC", "/wpad.da"} {
			if r := fetch(t, "GET", url+p, "p:1"); r.status != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", p, r.status)
			}
		}
	})
}

func TestHandlerRefusesOtherClients(t *testing.T) {
	pol, err := allowlist.Compile(allowlist.Spec{Clients: prefixes("10.0.0.0/8")})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	h := &pac.Handler{Events: rec}
	if err := h.Update(mustGenerate(t, pac.Options{Policy: pol}), pol, "mdmproxy.school.lan:3128"); err != nil {
		t.Fatal(err)
	}
	url := serveHandler(t, h)
	r := fetch(t, "GET", url+"/wpad.dat", "")
	if r.status != http.StatusForbidden || strings.Contains(r.body, "FindProxyForURL") {
		t.Errorf("a client outside clients: %d", r.status)
	}
	if r := fetch(t, "GET", url+"/", ""); r.status != http.StatusForbidden {
		t.Errorf("a client outside clients, another path: %d", r.status)
	}
	evs := rec.all()
	if len(evs) != 2 || evs[0].Action != events.ActionDeny || evs[0].Reason != "client_not_allowed" ||
		evs[0].SourceIP != netip.MustParseAddr("127.0.0.1") || evs[0].URL != "/wpad.dat" {
		t.Errorf("events: %+v", evs)
	}
}
