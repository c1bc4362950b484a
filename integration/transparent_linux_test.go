//go:build linux

package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/internal/netns"
	"github.com/mdmproxy/mdmproxy/internal/testdns"
	"github.com/mdmproxy/mdmproxy/internal/testpki"
)

// The interception lab: three network namespaces made by the test, on documentation addresses
// that exist only inside them.
//
//	client 192.0.2.2, 2001:db8:c::2
//	   | c0 ---- gc0 |
//	gateway 192.0.2.1, 2001:db8:c::1 / 198.51.100.1, 2001:db8:a::1: mdmproxy and nftables
//	   | go0 ---- o0 |
//	origin 198.51.100.2, 2001:db8:a::2; TLS on 443, 5223 and 5228 and plain TCP on 5229 at
//	       203.0.113.10-13 and 2001:db8:b::10-11; DNS on 198.51.100.2:53 (the gateway's resolver)
const (
	redirectPort = 15001
	tproxyPort   = 15002
)

type interceptLab struct {
	client, gw, origin netns.NS
	pki                *testpki.PKI
	origins            *originLog
	dns                *rotatingDNS
}

func newInterceptLab(t *testing.T) *interceptLab {
	t.Helper()
	// Not a skip when namespaces cannot be made: CI runs these as root, and a run that cannot
	// must say so.
	const need = "the transparent interception tests need root and network namespaces (ip netns)"
	top, err := netns.New("mdmp15")
	if err != nil {
		t.Fatalf("%s: %v", need, err)
	}
	t.Cleanup(func() {
		if err := top.Close(); err != nil {
			t.Errorf("deleting the test's network namespaces: %v", err)
		}
	})
	client, err := top.Add("c")
	if err != nil {
		t.Fatalf("%s: %v", need, err)
	}
	lab := &interceptLab{client: client, origins: &originLog{seen: map[string]int{}}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	lab.gw, err = top.Add("gw")
	must(err)
	lab.origin, err = top.Add("o")
	must(err)
	must(top.Link(lab.client, "c0", []string{"192.0.2.2/24", "2001:db8:c::2/64"}, lab.gw, "gc0", []string{"192.0.2.1/24", "2001:db8:c::1/64"}))
	must(top.Link(lab.origin, "o0", []string{"198.51.100.2/24", "2001:db8:a::2/64"}, lab.gw, "go0", []string{"198.51.100.1/24", "2001:db8:a::1/64"}))
	must(lab.origin.AddAddrs("lo", "203.0.113.10/32", "203.0.113.11/32", "203.0.113.12/32", "203.0.113.13/32", "2001:db8:b::10/128", "2001:db8:b::11/128"))
	for _, c := range [][]string{
		{"ip", "route", "add", "default", "via", "192.0.2.1"},
		{"ip", "-6", "route", "add", "default", "via", "2001:db8:c::1"},
	} {
		must(lab.client.Run(c...))
	}
	for _, c := range [][]string{
		{"ip", "route", "add", "default", "via", "198.51.100.1"},
		{"ip", "-6", "route", "add", "default", "via", "2001:db8:a::1"},
	} {
		must(lab.origin.Run(c...))
	}
	for _, c := range [][]string{
		{"ip", "route", "add", "203.0.113.0/24", "via", "198.51.100.2"},
		{"ip", "-6", "route", "add", "2001:db8:b::/64", "via", "2001:db8:a::2"},
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
	} {
		must(lab.gw.Run(c...))
	}
	must(lab.gw.SetResolvConf("198.51.100.2"))

	lab.pki, err = testpki.New("mdmproxy transparent test CA", time.Hour, []string{"mtalk.example", "push.example", "evil.example"}, nil)
	must(err)
	lab.dns = &rotatingDNS{answers: map[string][][]netip.Addr{
		// FCM-like rotating DNS: the first answer differs from every later one.
		"mtalk.example.": {{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("2001:db8:b::10")}, {netip.MustParseAddr("203.0.113.11")}},
	}}
	must(lab.origin.Do(func() error { return lab.startOrigins(t) }))
	return lab
}

// originLog counts the connections each origin listener received, by local address.
type originLog struct {
	mu   sync.Mutex
	seen map[string]int
}

func (o *originLog) add(local string) {
	o.mu.Lock()
	o.seen[local]++
	o.mu.Unlock()
}

func (o *originLog) count(local string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[local]
}

// startOrigins runs, inside the origin namespace, the TLS servers (they answer "origin LOCAL
// SNI"), the plain server ("plain LOCAL") and the DNS server. Everything stops with the test.
func (lab *interceptLab) startOrigins(t *testing.T) error {
	var closers []io.Closer
	t.Cleanup(func() {
		for _, c := range closers {
			c.Close()
		}
	})
	tlsConf := &tls.Config{Certificates: []tls.Certificate{lab.pki.Leaf}}
	for _, port := range []int{443, 5223, 5228, 5229} {
		ln, err := net.Listen("tcp", fmt.Sprintf("[::]:%d", port))
		if err != nil {
			return err
		}
		closers = append(closers, ln)
		go serveOrigin(ln, port != 5229, tlsConf, lab.origins)
	}
	pc, err := net.ListenPacket("udp", "198.51.100.2:53")
	if err != nil {
		return err
	}
	closers = append(closers, pc)
	go testdns.ServeUDP(pc, lab.dns.answer)
	return nil
}

func serveOrigin(ln net.Listener, useTLS bool, conf *tls.Config, log *originLog) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			local := netip.MustParseAddrPort(c.LocalAddr().String())
			local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
			log.add(local.String())
			c.SetDeadline(time.Now().Add(waitLimit))
			if !useTLS {
				fmt.Fprintf(c, "plain %s\n", local)
				io.Copy(io.Discard, c)
				return
			}
			tc := tls.Server(c, conf)
			if err := tc.Handshake(); err != nil {
				return
			}
			fmt.Fprintf(tc, "origin %s %s\n", local, tc.ConnectionState().ServerName)
			io.Copy(io.Discard, tc)
		}()
	}
}

// rotatingDNS answers A and AAAA queries from answers: the first query for a name gets the
// first set, later ones the last set, with a TTL of 5 minutes.
type rotatingDNS struct {
	mu      sync.Mutex
	answers map[string][][]netip.Addr
	asked   map[string]int
}

// reset makes every name's next answer its first again (a new proxy process has no cache).
func (d *rotatingDNS) reset() {
	d.mu.Lock()
	d.asked = nil
	d.mu.Unlock()
}

// answer is the testdns answer for q.
func (d *rotatingDNS) answer(q testdns.Question) testdns.Answer {
	d.mu.Lock()
	defer d.mu.Unlock()
	sets, known := d.answers[q.Name]
	if !known {
		return testdns.Answer{NotFound: true}
	}
	if d.asked == nil {
		d.asked = map[string]int{}
	}
	key := q.Name + q.Type.String()
	set := sets[min(d.asked[key], len(sets)-1)]
	d.asked[key]++
	return testdns.Answer{Addrs: set, TTL: 300}
}

// dialFrom opens a TCP connection from the client namespace.
func (lab *interceptLab) dialFrom(t *testing.T, dst string) *net.TCPConn {
	t.Helper()
	var c net.Conn
	err := lab.client.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", dst, waitLimit)
		return err
	})
	if err != nil {
		t.Fatalf("dial %s from the client namespace: %v", dst, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// tlsFrom connects to dst from the client namespace with sni ("" sends none) and returns the
// origin's greeting, or the handshake or read error.
func (lab *interceptLab) tlsFrom(t *testing.T, dst, sni string) (srcPort int, greeting string, err error) {
	t.Helper()
	c := lab.dialFrom(t, dst)
	srcPort = c.LocalAddr().(*net.TCPAddr).Port
	conf := &tls.Config{RootCAs: lab.pki.Pool, ServerName: sni}
	if sni == "" {
		// No SNI: a client that connects by address. Its certificate check is not what is
		// tested here.
		conf = &tls.Config{InsecureSkipVerify: true}
	}
	tc := tls.Client(c, conf)
	tc.SetDeadline(time.Now().Add(waitLimit))
	if err := tc.Handshake(); err != nil {
		return srcPort, "", err
	}
	line, err := bufio.NewReader(tc).ReadString('\n')
	return srcPort, strings.TrimSpace(line), err
}

// plainFrom connects to dst from the client namespace, sends a line of text and returns the
// origin's greeting or the read error.
func (lab *interceptLab) plainFrom(t *testing.T, dst string) (srcPort int, greeting string, err error) {
	t.Helper()
	c := lab.dialFrom(t, dst)
	srcPort = c.LocalAddr().(*net.TCPAddr).Port
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := c.Write([]byte("HELLO legacy protocol\r\n")); err != nil {
		return srcPort, "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return srcPort, strings.TrimSpace(line), err
}

// adminClient reaches the admin listener inside the gateway namespace.
func (lab *interceptLab) adminClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := lab.gw.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}}
}

// interceptConfig is the policy under test: FCM by name only (as the google-fcm preset), APNs
// by name through hosts, an MDM server by address, a legacy non-TLS service by address.
func interceptConfig(tr *Transparent) Config {
	return Config{
		Clients: []string{"192.0.2.0/24", "2001:db8:c::/64"},
		Rules: []Rule{
			{Name: "fcm", Domains: []string{"mtalk.example"}, Ports: []int{5228, 443}, Persistent: true},
			{Name: "apns", Domains: []string{"push.example"}, Ports: []int{5223}, Persistent: true},
			{Name: "mdm", CIDRs: []string{"203.0.113.11/32", "2001:db8:b::11/128"}, Ports: []int{443}},
			{Name: "legacy", CIDRs: []string{"203.0.113.12/32"}, Ports: []int{5229}, TLS: "optional"},
		},
		Hosts:       []Host{{Name: "push.example", IP: "203.0.113.12"}},
		Timeouts:    map[string]string{"hello": "2s", "connect": "5s"},
		Transparent: tr,
	}
}

const redirectRules = `
table inet mdmp15 {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "gc0" tcp dport { 443, 5223, 5228, 5229 } redirect to :15001
	}
}
`

const tproxyRules = `
table inet mdmp15 {
	chain divert {
		type filter hook prerouting priority mangle; policy accept;
		iifname "gc0" meta l4proto tcp socket transparent 1 meta mark set 1 accept
		iifname "gc0" tcp dport { 443, 5223, 5228, 5229 } tproxy to :15002 meta mark set 1 accept
	}
}
`

// TestTransparent runs the interception cases through a gateway with nftables REDIRECT and
// again with TPROXY and its policy routing: allowed SNIs are spliced end to end, an allowed SNI
// aimed at an address it does not resolve to is refused, flows without SNI or without TLS
// follow CIDR rules only, events carry the original destination, over IPv4 and IPv6.
func TestTransparent(t *testing.T) {
	lab := newInterceptLab(t)
	for _, mode := range []struct {
		name, rules string
		listen      []string
		routing     [][]string
	}{
		{"redirect", redirectRules, []string{fmt.Sprintf("192.0.2.1:%d", redirectPort), fmt.Sprintf("[2001:db8:c::1]:%d", redirectPort)}, nil},
		{"tproxy", tproxyRules, []string{fmt.Sprintf("[::]:%d", tproxyPort)}, [][]string{
			{"ip", "rule", "add", "fwmark", "1", "lookup", "100"},
			{"ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100"},
			{"ip", "-6", "rule", "add", "fwmark", "1", "lookup", "100"},
			{"ip", "-6", "route", "add", "local", "::/0", "dev", "lo", "table", "100"},
		}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			if err := lab.gw.Nft(mode.rules); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lab.gw.Run("nft", "delete", "table", "inet", "mdmp15") })
			for _, r := range mode.routing {
				if err := lab.gw.Run(r...); err != nil {
					t.Fatal(err)
				}
			}
			lab.dns.reset()
			p := StartProxyIn(t, interceptConfig(&Transparent{Listen: mode.listen, Mode: mode.name}), "ip", "netns", "exec", lab.gw.Name)
			p.AdminClient = lab.adminClient()
			lab.interceptCases(t, p)
		})
	}
}

// waitFlowEvent waits for the event of one flow: its action, the client's source port and the
// original destination (an IPv4 and an IPv6 flow may have the same source port).
func waitFlowEvent(t *testing.T, p *Proxy, action string, srcPort int, dst netip.AddrPort) Event {
	t.Helper()
	var found Event
	waitFor(t, fmt.Sprintf("a %s event from port %d to %s", action, srcPort, dst), func() bool {
		for _, e := range p.FindEvents(t, Match{Action: action, SrcPort: srcPort, DstPort: int(dst.Port())}) {
			if e.Destination.IP == dst.Addr().String() {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

func (lab *interceptLab) interceptCases(t *testing.T, p *Proxy) {
	checks0 := p.Metric(t, "mdmproxy_sni_resolve_checks_total")
	refused0 := p.Metric(t, "mdmproxy_sni_resolve_refused_total")
	spliced := func(t *testing.T, srcPort int, dst, sni, rule string) {
		t.Helper()
		ap := netip.MustParseAddrPort(dst)
		e := waitFlowEvent(t, p, "splice", srcPort, ap)
		if e.Destination.IP != ap.Addr().String() || e.Destination.Port != int(ap.Port()) || e.TLS.Client.ServerName != sni ||
			e.Rule.Name != rule || !e.MDMProxy.Intercepted {
			t.Errorf("splice event %s; want destination %s, SNI %q, rule %s, intercepted", e.Raw, dst, sni, rule)
		}
	}
	refused := func(t *testing.T, before, srcPort int, dst, reason string) {
		t.Helper()
		ap := netip.MustParseAddrPort(dst)
		e := waitFlowEvent(t, p, "deny", srcPort, ap)
		if e.Event.Reason != reason || e.Destination.IP != ap.Addr().String() || e.Destination.Port != int(ap.Port()) || !e.MDMProxy.Intercepted {
			t.Errorf("deny event %s; want reason %s, destination %s, intercepted", e.Raw, reason, dst)
		}
		if n := lab.origins.count(dst); n != before {
			t.Errorf("a refused flow reached the origin %s (%d connections, %d before)", dst, n, before)
		}
	}
	tlsSpliced := func(t *testing.T, dst, sni, rule string) {
		t.Helper()
		before := lab.origins.count(dst)
		port, greeting, err := lab.tlsFrom(t, dst, sni)
		if err != nil {
			t.Fatalf("TLS to %s (SNI %q): %v", dst, sni, err)
		}
		if want := strings.TrimSpace("origin " + dst + " " + sni); greeting != want {
			t.Errorf("greeting %q, want %q", greeting, want)
		}
		if lab.origins.count(dst) != before+1 {
			t.Errorf("the origin at %s did not see the connection", dst)
		}
		spliced(t, port, dst, sni, rule)
	}
	tlsRefused := func(t *testing.T, dst, sni, reason string) {
		t.Helper()
		before := lab.origins.count(dst)
		port, greeting, err := lab.tlsFrom(t, dst, sni)
		if err == nil {
			t.Fatalf("TLS to %s (SNI %q) went through: %q", dst, sni, greeting)
		}
		if !strings.Contains(err.Error(), "remote error: tls: unrecognized name") {
			t.Errorf("TLS to %s (SNI %q) refused without the TLS alert: %v", dst, sni, err)
		}
		refused(t, before, port, dst, reason)
	}

	t.Run("allowed SNI, rotating DNS", func(t *testing.T) {
		// The first lookup answers .10, later ones .11: both count for their TTL.
		tlsSpliced(t, "203.0.113.10:5228", "mtalk.example", "fcm")
		tlsSpliced(t, "203.0.113.11:5228", "mtalk.example", "fcm")
		tlsSpliced(t, "203.0.113.10:443", "mtalk.example", "fcm")
	})
	t.Run("allowed SNI, IPv6", func(t *testing.T) {
		tlsSpliced(t, "[2001:db8:b::10]:5228", "mtalk.example", "fcm")
	})
	t.Run("allowed SNI through hosts", func(t *testing.T) {
		tlsSpliced(t, "203.0.113.12:5223", "push.example", "apns")
	})
	t.Run("allowed SNI aimed elsewhere", func(t *testing.T) {
		tlsRefused(t, "203.0.113.13:5228", "mtalk.example", "sni_address_mismatch")
		tlsRefused(t, "203.0.113.13:5223", "push.example", "sni_address_mismatch")
	})
	t.Run("SNI not allowed, address allowed by CIDR", func(t *testing.T) {
		tlsRefused(t, "203.0.113.11:443", "evil.example", "sni_not_allowed")
	})
	t.Run("no SNI follows CIDR rules", func(t *testing.T) {
		tlsSpliced(t, "203.0.113.11:443", "", "mdm")
		tlsSpliced(t, "[2001:db8:b::11]:443", "", "mdm")
		tlsRefused(t, "203.0.113.10:5228", "", "no_rule")
		tlsRefused(t, "[2001:db8:b::10]:5228", "", "no_rule")
	})
	t.Run("non-TLS follows CIDR rules", func(t *testing.T) {
		port, greeting, err := lab.plainFrom(t, "203.0.113.12:5229")
		if err != nil || greeting != "plain 203.0.113.12:5229" {
			t.Fatalf("plain TCP under tls: optional: %q, %v", greeting, err)
		}
		spliced(t, port, "203.0.113.12:5229", "", "legacy")
		before := lab.origins.count("203.0.113.11:443")
		port, _, err = lab.plainFrom(t, "203.0.113.11:443")
		if err == nil {
			t.Error("plain TCP to a tls: required rule got an answer")
		}
		refused(t, before, port, "203.0.113.11:443", "not_tls")
	})
	t.Run("metrics count the SNI checks", func(t *testing.T) {
		// Checks: .10:5228, .11:5228, .10:443, [::10]:5228, and the mismatch to .13:5228.
		// push.example resolves through hosts, not DNS, but is checked all the same.
		checks := p.Metric(t, "mdmproxy_sni_resolve_checks_total") - checks0
		ref := p.Metric(t, "mdmproxy_sni_resolve_refused_total") - refused0
		if checks != 7 || ref != 2 {
			t.Errorf("SNI resolve checks %v, refused %v; want 7 and 2", checks, ref)
		}
		if n := p.Metric(t, "mdmproxy_intercepted_total"); n < 14 {
			t.Errorf("intercepted_total %v, want at least 14", n)
		}
	})
}

// TestTransparentNoLoop: a connection aimed at the transparent listener itself (or any other
// listener of mdmproxy) is refused instead of being dialled back into mdmproxy.
func TestTransparentNoLoop(t *testing.T) {
	lab := newInterceptLab(t)
	p := StartProxyIn(t, interceptConfig(&Transparent{Listen: []string{fmt.Sprintf("[::]:%d", redirectPort)}, Mode: "redirect"}), "ip", "netns", "exec", lab.gw.Name)
	dst := fmt.Sprintf("192.0.2.1:%d", redirectPort)
	port, _, err := lab.tlsFrom(t, dst, "mtalk.example")
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a flow aimed at mdmproxy itself: %v", err)
	}
	e := waitFlowEvent(t, p, "deny", port, netip.MustParseAddrPort(dst))
	if e.Event.Reason != "own_address" || e.Destination.IP != "192.0.2.1" || e.Destination.Port != redirectPort {
		t.Errorf("event %s; want own_address for %s", e.Raw, dst)
	}
}

// upstreamProxy is a minimal CONNECT proxy standing in for a school's content filter: it
// records each CONNECT target, dials it (from the namespace dial belongs to) and relays.
type upstreamProxy struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	mu      sync.Mutex
	targets []string
}

func (u *upstreamProxy) seen() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.targets...)
}

func (u *upstreamProxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go u.relay(c)
	}
}

func (u *upstreamProxy) relay(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	u.mu.Lock()
	u.targets = append(u.targets, req.Host)
	u.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	o, err := u.dial(ctx, "tcp", req.Host)
	cancel()
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer o.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() { io.Copy(o, br); o.(*net.TCPConn).CloseWrite() }()
	io.Copy(c, o)
}

// TestTransparentUpstreamAndLimits: under default_action upstream, an intercepted flow no rule
// allows goes to the upstream proxy with its original destination as the CONNECT target, while
// allowed ones are still spliced directly; limits.max_tunnels_per_client holds for intercepted
// flows, which are closed (no HTTP answer) when it is reached.
func TestTransparentUpstreamAndLimits(t *testing.T) {
	lab := newInterceptLab(t)
	dial, stop, err := lab.origin.Dialer(&net.Dialer{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	up := &upstreamProxy{dial: dial}
	if err := lab.origin.Do(func() error {
		ln, err := net.Listen("tcp", "198.51.100.2:3128")
		if err != nil {
			return err
		}
		t.Cleanup(func() { ln.Close() })
		go up.serve(ln)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := lab.gw.Nft(redirectRules); err != nil {
		t.Fatal(err)
	}
	c := interceptConfig(&Transparent{Listen: []string{fmt.Sprintf("[::]:%d", redirectPort)}, Mode: "redirect"})
	c.DefaultAction, c.Upstream = "upstream", "http://198.51.100.2:3128"
	c.Limits = map[string]int{"max_tunnels_per_client": 2}
	p := StartProxyIn(t, c, "ip", "netns", "exec", lab.gw.Name)

	// No rule: to the upstream, by address, the hello replayed through it.
	port, greeting, err := lab.tlsFrom(t, "203.0.113.13:443", "evil.example")
	if err != nil || greeting != "origin 203.0.113.13:443 evil.example" {
		t.Fatalf("through the upstream: %q, %v", greeting, err)
	}
	e := waitFlowEvent(t, p, "upstream", port, netip.MustParseAddrPort("203.0.113.13:443"))
	if !e.MDMProxy.Intercepted {
		t.Errorf("upstream event %s not marked intercepted", e.Raw)
	}
	if got := up.seen(); len(got) != 1 || got[0] != "203.0.113.13:443" {
		t.Errorf("the upstream saw CONNECT targets %v, want [203.0.113.13:443]", got)
	}
	// Allowed: spliced directly, the upstream not asked. The connection stays open: it is the
	// client's second tunnel.
	port, greeting, err = lab.tlsFrom(t, "203.0.113.11:443", "")
	if err != nil || greeting != "origin 203.0.113.11:443" {
		t.Fatalf("allowed by CIDR: %q, %v", greeting, err)
	}
	waitFlowEvent(t, p, "splice", port, netip.MustParseAddrPort("203.0.113.11:443"))
	if got := up.seen(); len(got) != 1 {
		t.Errorf("an allowed flow went to the upstream: %v", got)
	}
	// A third tunnel from the same client crosses max_tunnels_per_client: closed, no HTTP.
	before := lab.origins.count("203.0.113.12:5223")
	c3 := lab.dialFrom(t, "203.0.113.12:5223")
	tc := tls.Client(c3, &tls.Config{RootCAs: lab.pki.Pool, ServerName: "push.example"})
	tc.SetDeadline(time.Now().Add(waitLimit))
	if err := tc.Handshake(); err == nil {
		t.Fatal("a tunnel over the per-client limit was spliced")
	}
	e = waitFlowEvent(t, p, "deny", c3.LocalAddr().(*net.TCPAddr).Port, netip.MustParseAddrPort("203.0.113.12:5223"))
	if e.Event.Reason != "too_many_client_tunnels" || !e.MDMProxy.Intercepted {
		t.Errorf("event %s; want too_many_client_tunnels", e.Raw)
	}
	if lab.origins.count("203.0.113.12:5223") != before {
		t.Error("a flow over the limit reached the origin")
	}
}

// TestTransparentReloadRevokes: a reload whose policy no longer allows an open intercepted
// tunnel ends it (policy_revoked), as it does CONNECT tunnels; one still allowed stays open.
func TestTransparentReloadRevokes(t *testing.T) {
	lab := newInterceptLab(t)
	if err := lab.gw.Nft(redirectRules); err != nil {
		t.Fatal(err)
	}
	c := interceptConfig(&Transparent{Listen: []string{fmt.Sprintf("[::]:%d", redirectPort)}, Mode: "redirect"})
	p := StartProxyIn(t, c, "ip", "netns", "exec", lab.gw.Name)

	open := func(dst, sni string) (*tls.Conn, int) {
		t.Helper()
		conn := lab.dialFrom(t, dst)
		conf := &tls.Config{RootCAs: lab.pki.Pool, ServerName: sni}
		if sni == "" {
			conf = &tls.Config{InsecureSkipVerify: true}
		}
		tc := tls.Client(conn, conf)
		tc.SetDeadline(time.Now().Add(waitLimit))
		if _, err := bufio.NewReader(tc).ReadString('\n'); err != nil {
			t.Fatalf("tunnel to %s: %v", dst, err)
		}
		port := conn.LocalAddr().(*net.TCPAddr).Port
		waitFlowEvent(t, p, "splice", port, netip.MustParseAddrPort(dst))
		return tc, port
	}
	_, byName := open("203.0.113.10:5228", "mtalk.example") // fcm, a domain rule
	kept, byCIDR := open("203.0.113.11:443", "")            // mdm, a CIDR rule

	// The reload takes 5228 out of fcm.
	c.Rules[0].Ports = []int{443}
	p.WriteConfig(t, c)
	p.Signal(t, syscall.SIGHUP)
	e := waitFlowEvent(t, p, "end", byName, netip.MustParseAddrPort("203.0.113.10:5228"))
	if e.Event.Reason != "policy_revoked" || !e.MDMProxy.Intercepted {
		t.Errorf("end event %s; want policy_revoked", e.Raw)
	}
	if ends := p.FindEvents(t, Match{Action: "end", SrcPort: byCIDR, DstPort: 443}); len(ends) != 0 {
		t.Errorf("a tunnel the new policy allows was ended: %s", ends[0].Raw)
	}
	kept.SetDeadline(time.Now().Add(waitLimit))
	if _, err := kept.Write([]byte("still here\n")); err != nil {
		t.Errorf("the kept tunnel: %v", err)
	}
}
