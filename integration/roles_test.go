package integration

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCheckRoles: `mdmproxy check --client` shows that server-direction preset entries and
// admin rules with clients exist only for their clients. Targets are IP literals, so nothing
// is resolved.
func TestCheckRoles(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "roles.yaml")
	if err := os.WriteFile(cfg, []byte(`clients: [10.0.0.0/8, 127.0.0.0/8]
presets: [apple, apple-push-provider]
roles:
  server: [10.1.2.3/32]
rules:
  - name: lab-cloud
    clients: [10.3.0.0/16]
    cidrs: [192.0.2.0/24]
    ports: [443]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		client, target string
		code           int
		want           []string
	}{
		{"10.1.2.3", "17.1.2.3:2197", 0, []string{"action:  splice", "rule:    apple-push-provider/apple-network", "for:     roles.server (10.1.2.3/32)"}},
		{"10.200.0.9", "17.1.2.3:2197", 1, []string{"action:  deny", "port_not_allowed", "not for: apple-push-provider/apple-network allows this for roles.server (10.1.2.3/32), which does not include 10.200.0.9"}},
		{"10.200.0.9", "17.1.2.3:5223", 0, []string{"action:  splice", "rule:    apple-push/apple-network"}},
		{"10.3.0.5", "192.0.2.5:443", 0, []string{"rule:    lab-cloud", "for:     clients (10.3.0.0/16)"}},
		{"10.200.0.9", "192.0.2.5:443", 1, []string{"no_rule", "not for: lab-cloud allows this for clients (10.3.0.0/16)"}},
	}
	for _, c := range cases {
		stdout, stderr, code := runCLI(t, "check", "--config", cfg, "--client", c.client, c.target)
		if code != c.code {
			t.Errorf("check --client %s %s: exit %d, want %d\n%s%s", c.client, c.target, code, c.code, stdout, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("check --client %s %s: output lacks %q:\n%s", c.client, c.target, w, stdout)
			}
		}
	}
}

// connectFrom sends a CONNECT for target from the local address src and reads the answer; the
// connection is closed when the test ends.
func connectFrom(t *testing.T, src, proxyAddr, target string) (ConnectReply, net.Conn) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: waitLimit}
	c, err := d.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, connectHead(target, "")); err != nil {
		t.Fatal(err)
	}
	r, err := readConnectReply(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	r.SrcPort = c.LocalAddr().(*net.TCPAddr).Port
	return r, c
}

// TestEventsNameTheRuleForTheClient: the same target is allowed by a rule limited to one client
// and by a rule for everyone; each client's tunnel is spliced, and its event names the rule
// that applied to that client.
func TestEventsNameTheRuleForTheClient(t *testing.T) {
	t.Parallel()
	origin := startOrigin(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(origin.Port))
	p := StartProxy(t, Config{
		Clients: []string{"127.0.0.0/8"},
		Roles:   map[string][]string{"server": {"127.0.0.9/32"}},
		Rules: []Rule{
			{Name: "lab-only", CIDRs: []string{"127.0.0.1/32"}, Ports: []int{origin.Port}, TLS: "optional", Clients: []string{"127.0.0.2/32"}},
			{Name: "everyone", CIDRs: []string{"127.0.0.1/32"}, Ports: []int{origin.Port}, TLS: "optional"},
		},
	})
	for _, c := range []struct{ src, rule string }{{"127.0.0.2", "lab-only"}, {"127.0.0.3", "everyone"}} {
		r, _ := connectFrom(t, c.src, p.Addr, target)
		if r.Status != 200 {
			t.Fatalf("CONNECT from %s: %s", c.src, r.Line)
		}
		e := p.WaitEvent(t, Match{SrcPort: r.SrcPort, DstPort: origin.Port, Rule: c.rule})
		if e.Event.Action != "splice" || e.Source.IP != c.src {
			t.Errorf("from %s: event %s", c.src, e.Raw)
		}
	}
}
