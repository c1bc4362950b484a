package integration

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Limits: crossing max_tunnels gives 503 and max_tunnels_per_client 429; both free up again
// when tunnels end.
func TestTunnelLimits(t *testing.T) {
	echo := startOrigin(t, plainEcho)
	rules := []Rule{{Name: "plain", Domains: []string{"plain.test"}, CIDRs: []string{"127.0.0.1/32"}, Ports: []int{echo.Port}, TLS: "optional"}}
	target := "plain.test:" + strconv.Itoa(echo.Port)
	for _, tt := range []struct {
		key    string
		status int
		reason string
		second string // the client of the refused tunnel
	}{
		{"max_tunnels", 503, "too_many_tunnels", "127.0.0.6"},
		{"max_tunnels_per_client", 429, "too_many_client_tunnels", "127.0.0.5"},
	} {
		t.Run(tt.key, func(t *testing.T) {
			p := StartProxy(t, Config{Rules: rules, Hosts: loopbackHosts("plain.test"), Limits: map[string]int{tt.key: 1}})
			first, r := connectAs(t, "127.0.0.5", p.Addr, target, "")
			if r.Status != 200 {
				t.Fatalf("first: %s", r.Line)
			}
			mustRoundTrip(t, first, []byte("one"))
			_, r2 := connectAs(t, tt.second, p.Addr, target, "")
			if r2.Status != tt.status {
				t.Fatalf("over the limit: %s, want %d", r2.Line, tt.status)
			}
			p.WaitEvent(t, Match{SrcPort: r2.SrcPort, Action: "deny", Reason: tt.reason})
			first.Close()
			p.WaitEvent(t, Match{SrcPort: r.SrcPort, Action: "end"})
			again, r3 := connectAs(t, tt.second, p.Addr, target, "")
			if r3.Status != 200 {
				t.Fatalf("after the first tunnel ended: %s", r3.Line)
			}
			mustRoundTrip(t, again, []byte("two"))
		})
	}
}

// Report mode lets a refused target through and says what enforce would have done;
// deny_cidrs and the client check still hold.
func TestReportMode(t *testing.T) {
	echo := startOrigin(t, plainEcho)
	noLoopback := []string{"10.0.0.0/8"}
	p := StartProxy(t, Config{Clients: []string{"127.0.0.0/30"}, Hosts: loopbackHosts("other.test"),
		Beyond: Beyond{Mode: "report", DenyCIDRs: &noLoopback}})
	target := "other.test:" + strconv.Itoa(echo.Port)

	pc, r := connectAs(t, "127.0.0.2", p.Addr, target, "")
	if r.Status != 200 {
		t.Fatalf("report mode: %s, want the refusal let through", r.Line)
	}
	mustRoundTrip(t, pc, []byte("let through"))
	e := p.WaitEvent(t, Match{SrcPort: r.SrcPort, Action: "allow"})
	if e.Event.Reason != "no_rule" || e.MDMProxy.Enforce.Action != "deny" || e.MDMProxy.Enforce.Reason != "no_rule" {
		t.Errorf("event: %s", e.Raw)
	}

	_, r = connectAs(t, "127.0.0.9", p.Addr, target, "")
	if r.Status != http.StatusForbidden {
		t.Fatalf("a client outside clients: %s, want 403", r.Line)
	}
	p.WaitEvent(t, Match{SrcPort: r.SrcPort, Action: "deny", Reason: "client_not_allowed"})

	p2 := StartProxy(t, Config{Hosts: loopbackHosts("other.test"), Beyond: Beyond{Mode: "report"}})
	_, r = connectAs(t, "127.0.0.2", p2.Addr, target, "")
	if r.Status != http.StatusForbidden {
		t.Fatalf("an address in deny_cidrs: %s, want 403", r.Line)
	}
	p2.WaitEvent(t, Match{SrcPort: r.SrcPort, Action: "deny", Reason: "denied_address"})
}

// mdmproxy check in report mode prints what is done and what enforce would do.
func TestCheckReportMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.yaml")
	os.WriteFile(path, []byte("mode: report\ndeny_cidrs: []\nhosts: [{name: other.test, ip: 192.0.2.10}]\nrules: []\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "check", "--config", path, "other.test:443")
	cmd.Env = childEnv()
	out, err := cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d (%v), want 1 (enforce would deny); output:\n%s", code, err, out)
	}
	for _, want := range []string{"action:  allow", "enforce: deny (no_rule", "mode:    report"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Plain HTTP through a rule with curl, each request decided on its own on a kept-alive
// connection; the smuggling forms refused with 400 and an event.
func TestPlainHTTP(t *testing.T) {
	web := httpOrigin(t)
	p := StartProxy(t, Config{Rules: []Rule{{Name: "web", Domains: []string{"web.test"}, CIDRs: []string{"127.0.0.1/32"}, Ports: []int{web}}},
		Hosts: loopbackHosts("web.test")})
	curl := requireTool(t, "curl")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	u := "http://web.test:" + strconv.Itoa(web)
	// Two URLs in one curl run share its kept-alive connection: allowed, then refused.
	cmd := exec.CommandContext(ctx, curl, "-sS", "--http1.1", "-x", "http://"+p.Addr, "-w", " %{http_code}\n", u+"/one", "http://example.com/")
	cmd.Env = childEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	if !strings.Contains(string(out), "hello /one 200") || !strings.Contains(string(out), " 403") {
		t.Fatalf("curl printed %q, want hello /one 200 then a 403", out)
	}
	if e := p.WaitEvent(t, Match{Action: "end", Domain: "web.test"}); e.HTTP.Response.StatusCode != 200 || e.HTTP.Request.Method != "GET" {
		t.Errorf("end event: %s", e.Raw)
	}
	p.WaitEvent(t, Match{Action: "deny", Domain: "example.com", Reason: "no_rule"})

	host := "web.test:" + strconv.Itoa(web)
	for _, req := range []string{
		"GET " + u + "/ HTTP/1.1\r\nHost: " + host + "\r\nHost: example.com\r\n\r\n",
		"GET " + u + "/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"POST " + u + "/ HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		c := mustDialFrom(t, "127.0.0.1", p.Addr)
		c.Write([]byte(req))
		r, err := readConnectReply(bufio.NewReader(c))
		if err != nil || r.Status != http.StatusBadRequest {
			t.Fatalf("%q: %v %v, want 400", req, r.Line, err)
		}
		p.WaitEvent(t, Match{SrcPort: c.LocalAddr().(*net.TCPAddr).Port, Action: "deny", Reason: "bad_request"})
	}
}
