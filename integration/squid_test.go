package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Squid is a real Squid 5 started by a test as the school's content filter (the upstream):
// on loopback, names from its own hosts_file, X-Forwarded-For followed from mdmproxy (so its
// access log names the device, not mdmproxy), its access log read by the test.
type Squid struct {
	Addr      string // HOST:PORT
	AccessLog string
	dir       string
	cmd       *exec.Cmd
	done      chan struct{}
}

// SquidOptions choose the filter's behaviour.
type SquidOptions struct {
	Hosts   []string // names its hosts_file maps to 127.0.0.1
	Blocked []string // domains it refuses (403)
	User    string   // with Password: Basic authentication required of every request
	Pass    string
}

// squidUser is the operating-system user Squid drops to when started as root.
const squidUser = "proxy"

// StartSquid writes a squid.conf, starts `squid -N` and waits until it accepts connections.
// Squid is stopped and its directory removed when the test ends.
func StartSquid(t *testing.T, o SquidOptions) *Squid {
	t.Helper()
	bin := requireTool(t, "squid")
	dir, err := os.MkdirTemp("", "mdmproxy-squid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777) // Squid writes its logs as squidUser
	port := freePort(t)
	s := &Squid{Addr: "127.0.0.1:" + strconv.Itoa(port), AccessLog: filepath.Join(dir, "access.log"), dir: dir, done: make(chan struct{})}

	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "http_port %s\nvisible_hostname squid.test\n", s.Addr)
	fmt.Fprintf(&conf, "hosts_file %s\n", write("hosts", "127.0.0.1 "+strings.Join(append(o.Hosts, "squid.test"), " ")+"\n"))
	conf.WriteString("follow_x_forwarded_for allow localhost\nfollow_x_forwarded_for deny all\n")
	if len(o.Blocked) > 0 {
		fmt.Fprintf(&conf, "acl blocked dstdomain %s\nhttp_access deny blocked\n", strings.Join(o.Blocked, " "))
	}
	if o.User != "" {
		hash, err := exec.Command("openssl", "passwd", "-apr1", o.Pass).Output()
		if err != nil {
			t.Fatalf("openssl passwd: %v", err)
		}
		passwd := write("passwd", o.User+":"+strings.TrimSpace(string(hash))+"\n")
		fmt.Fprintf(&conf, "auth_param basic program /usr/lib/squid/basic_ncsa_auth %s\nauth_param basic realm school-filter\n", passwd)
		conf.WriteString("acl users proxy_auth REQUIRED\nhttp_access deny !users\n")
	}
	conf.WriteString("acl loopback src 127.0.0.0/8\nhttp_access allow loopback\nhttp_access deny all\n")
	fmt.Fprintf(&conf, "access_log stdio:%s\ncache_log %s\npid_filename %s\ncoredump_dir %s\n",
		s.AccessLog, filepath.Join(dir, "cache.log"), filepath.Join(dir, "squid.pid"), dir)
	conf.WriteString("cache deny all\ncache_mem 0 MB\ncache_store_log none\nshutdown_lifetime 0 seconds\npinger_enable off\n")
	confPath := write("squid.conf", conf.String())

	s.cmd = exec.Command(bin, "-N", "-f", confPath)
	s.cmd.Env = childEnv()
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, io.Discard
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting squid: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(waitLimit)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "cache.log"))
			t.Fatalf("squid exited at start:\n%s", log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("squid did not listen on %s within %v", s.Addr, waitLimit)
		}
	}
}

// stop ends Squid: SIGTERM, then SIGKILL if it has not exited within waitLimit.
func (s *Squid) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(waitLimit):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// WaitLog waits for an access-log line containing every one of parts and returns it.
func (s *Squid) WaitLog(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		for _, line := range s.Lines(t) {
			if containsAll(line, parts) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no squid access-log line with %q in %v; log:\n%s", parts, waitLimit, strings.Join(s.Lines(t), "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Lines is Squid's access log so far.
func (s *Squid) Lines(t *testing.T) []string {
	b, err := os.ReadFile(s.AccessLog)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// freePort is a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// connectAs sends a CONNECT from local with extra header lines and reads the answer.
func connectAs(t *testing.T, local, proxyAddr, target, extra string) (*proxyConn, ConnectReply) {
	t.Helper()
	c := mustDialFrom(t, local, proxyAddr).(*net.TCPConn)
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, connectHead(target, extra))
	br := bufio.NewReader(c)
	r, err := readConnectReply(br)
	if err != nil {
		t.Fatal(err)
	}
	r.SrcPort = c.LocalAddr().(*net.TCPAddr).Port
	c.SetDeadline(time.Time{})
	return &proxyConn{TCPConn: c, r: br}, r
}

// plainClientFrom is an HTTP client that uses the proxy from the loopback address local.
func plainClientFrom(local, proxyAddr string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: waitLimit}
	return &http.Client{Timeout: waitLimit, Transport: &http.Transport{
		Proxy:       http.ProxyURL(&url.URL{Scheme: "http", Host: proxyAddr}),
		DialContext: d.DialContext, DisableCompression: true,
	}}
}

// httpOrigin is a real HTTP server on loopback answering "hello PATH".
func httpOrigin(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// upstreamConfig is mdmproxy in front of the filter: the MDM rule spliced straight out,
// everything else handed to the upstream.
func upstreamConfig(upstream string, mdmPort int) Config {
	return Config{
		Rules: []Rule{{Name: "apple-push", Domains: []string{"courier.push.apple.com"}, CIDRs: []string{"127.0.0.1/32"},
			Ports: []int{mdmPort}, TLS: "required", Persistent: true}},
		Hosts:  loopbackHosts("courier.push.apple.com"),
		Beyond: Beyond{DefaultAction: "upstream", Upstream: upstream},
	}
}

// The deployment that fixes MDM without replacing the school's filter: MDM tunnels spliced
// straight out and never seen by the filter; everything else, CONNECT and plain HTTP, through
// the filter under the device's own address.
func TestUpstreamSquid(t *testing.T) {
	squid := StartSquid(t, SquidOptions{Hosts: []string{"plain.test", "web.test", "blocked.test"}, Blocked: []string{"blocked.test"}})
	mdm := startTLSEchoOrigin(t)
	echo := startOrigin(t, plainEcho)
	web := httpOrigin(t)
	p := StartProxy(t, upstreamConfig("http://"+squid.Addr, mdm.Port))
	const device = "127.0.0.2"

	t.Run("connect_through_the_filter", func(t *testing.T) {
		target := "plain.test:" + strconv.Itoa(echo.Port)
		pc, r := connectAs(t, device, p.Addr, target, "")
		if r.Status != 200 {
			t.Fatalf("CONNECT %s: %s %s", target, r.Line, r.Body)
		}
		mustRoundTrip(t, pc, []byte("any bytes, not TLS"))
		e := p.WaitEvent(t, Match{SrcPort: r.SrcPort, Action: "upstream"})
		if e.MDMProxy.Upstream != squid.Addr || e.Source.IP != device || e.Destination.Domain != "plain.test" {
			t.Errorf("decision event: %s", e.Raw)
		}
		pc.Close()
		squid.WaitLog(t, device+" ", "TCP_TUNNEL/200", "CONNECT "+target)
		p.WaitEvent(t, Match{SrcPort: r.SrcPort, Action: "end"})
	})

	t.Run("server_speaks_first", func(t *testing.T) {
		// The origin's banner may come in the same segment as the filter's 200: it must reach
		// the client either way, and before anything the client sends.
		banner := startOrigin(t, func(c net.Conn) {
			io.WriteString(c, "220 banner\r\n")
			io.Copy(c, c)
		})
		target := "plain.test:" + strconv.Itoa(banner.Port)
		pc, r := connectAs(t, device, p.Addr, target, "")
		if r.Status != 200 {
			t.Fatalf("CONNECT %s: %s %s", target, r.Line, r.Body)
		}
		pc.SetReadDeadline(time.Now().Add(waitLimit))
		line, err := bufio.NewReader(pc).ReadString('\n')
		if err != nil || line != "220 banner\r\n" {
			t.Fatalf("first line %q, %v; want the origin's banner", line, err)
		}
		pc.Close()
	})

	t.Run("plain_http_through_the_filter", func(t *testing.T) {
		u := "http://web.test:" + strconv.Itoa(web) + "/page"
		resp, err := plainClientFrom(device, p.Addr).Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hello /page" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		squid.WaitLog(t, device+" ", "GET "+u)
		e := p.WaitEvent(t, Match{Action: "end", Domain: "web.test"})
		if e.HTTP.Response.StatusCode != 200 || e.URL.Original != u || e.Destination.Bytes == nil || *e.Destination.Bytes != int64(len(body)) {
			t.Errorf("end event: %s", e.Raw)
		}
	})

	t.Run("mdm_is_spliced_straight_out", func(t *testing.T) {
		target := "courier.push.apple.com:" + strconv.Itoa(mdm.Port)
		tc, pc := mustDialTLS(t, p.Addr, target, clientTLS(t, "courier.push.apple.com"))
		mustRoundTrip(t, tc, []byte("push"))
		closeTLSCleanly(tc, pc)
		p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"})
		for _, line := range squid.Lines(t) {
			if strings.Contains(line, "courier.push.apple.com") {
				t.Errorf("the MDM tunnel went through the filter: %s", line)
			}
		}
	})

	t.Run("the_filter_refuses", func(t *testing.T) {
		_, r := connectAs(t, device, p.Addr, "blocked.test:443", "")
		if r.Status != http.StatusForbidden {
			t.Fatalf("status %d, want the filter's 403 relayed", r.Status)
		}
		e := p.WaitEvent(t, Match{SrcPort: r.SrcPort})
		if e.Event.Action != "upstream" || e.Event.Reason != "upstream_refused" || e.HTTP.Response.StatusCode != 403 {
			t.Errorf("event: %s", e.Raw)
		}
	})
}

// The filter down: 502 and an event; no password anywhere; report mode.
func TestUpstreamDown(t *testing.T) {
	p := StartProxy(t, upstreamConfig("http://alice:s3cret-pw@127.0.0.1:"+strconv.Itoa(deadPort(t)), 9))
	_, r := connectAs(t, "127.0.0.2", p.Addr, "plain.test:80", "")
	if r.Status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", r.Status)
	}
	e := p.WaitEvent(t, Match{SrcPort: r.SrcPort})
	if e.Event.Action != "upstream" || e.Event.Outcome != "failure" || e.Event.Reason != "upstream_failed" {
		t.Errorf("event: %s", e.Raw)
	}
	resp, err := plainClientFrom("127.0.0.2", p.Addr).Get("http://web.test/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("plain request: status %d, want 502", resp.StatusCode)
	}
	p.WaitEvent(t, Match{Domain: "web.test", Reason: "upstream_failed"})
	checkNoSecret(t, p, "s3cret-pw", r.Body)
}

// checkNoSecret fails when secret (or its Basic encoding) is in the events, the operational
// log or what the client was answered.
func checkNoSecret(t *testing.T, p *Proxy, secret string, answered ...string) {
	t.Helper()
	events, _ := os.ReadFile(p.EventsPath)
	for what, text := range map[string]string{"events": string(events), "operational log": p.Stderr(), "answer": strings.Join(answered, "\n")} {
		if strings.Contains(text, secret) {
			t.Errorf("the upstream password is in the %s:\n%s", what, text)
		}
	}
}

// Basic credentials: from the upstream URL, or the client's own passed through with the
// filter's 407 relayed back.
func TestUpstreamSquidAuthentication(t *testing.T) {
	squid := StartSquid(t, SquidOptions{Hosts: []string{"plain.test"}, User: "alice", Pass: "s3cret-pw"})
	echo := startOrigin(t, plainEcho)
	target := "plain.test:" + strconv.Itoa(echo.Port)

	t.Run("credentials_in_the_url", func(t *testing.T) {
		p := StartProxy(t, upstreamConfig("http://alice:s3cret-pw@"+squid.Addr, 9))
		pc, r := connectAs(t, "127.0.0.3", p.Addr, target, "")
		if r.Status != 200 {
			t.Fatalf("CONNECT: %s %s", r.Line, r.Body)
		}
		mustRoundTrip(t, pc, []byte("authenticated"))
		pc.Close()
		squid.WaitLog(t, "127.0.0.3 ", "TCP_TUNNEL/200", "CONNECT "+target, " alice ")
		p.WaitEvent(t, Match{SrcPort: r.SrcPort, Action: "end"})
		checkNoSecret(t, p, "s3cret-pw")
		checkNoSecret(t, p, "YWxpY2U6czNjcmV0LXB3") // base64 of alice:s3cret-pw
	})

	t.Run("wrong_credentials_in_the_url", func(t *testing.T) {
		// The filter refuses the proxy's own credentials: that is the proxy's fault, not the
		// device's, so the device gets 502, not a login prompt it cannot answer.
		p := StartProxy(t, upstreamConfig("http://alice:not-the-pw@"+squid.Addr, 9))
		_, r := connectAs(t, "127.0.0.3", p.Addr, target, "")
		if r.Status != http.StatusBadGateway {
			t.Fatalf("status %s, want 502", r.Line)
		}
		if e := p.WaitEvent(t, Match{SrcPort: r.SrcPort}); e.Event.Reason != "upstream_refused" || e.HTTP.Response.StatusCode != 502 {
			t.Errorf("event: %s", e.Raw)
		}
		checkNoSecret(t, p, "not-the-pw", r.Body)
	})

	t.Run("the_clients_own_credentials", func(t *testing.T) {
		p := StartProxy(t, upstreamConfig("http://"+squid.Addr, 9))
		_, r := connectAs(t, "127.0.0.4", p.Addr, target, "")
		if r.Status != http.StatusProxyAuthRequired {
			t.Fatalf("without credentials: %s, want the filter's 407", r.Line)
		}
		if e := p.WaitEvent(t, Match{SrcPort: r.SrcPort}); e.Event.Reason != "upstream_refused" || e.HTTP.Response.StatusCode != 407 {
			t.Errorf("event: %s", e.Raw)
		}
		pc, r := connectAs(t, "127.0.0.4", p.Addr, target, "Proxy-Authorization: Basic YWxpY2U6czNjcmV0LXB3\r\n")
		if r.Status != 200 {
			t.Fatalf("with the client's credentials: %s %s", r.Line, r.Body)
		}
		mustRoundTrip(t, pc, []byte("the device's user"))
		pc.Close()
		squid.WaitLog(t, "127.0.0.4 ", "TCP_TUNNEL/200", " alice ")
	})
}
