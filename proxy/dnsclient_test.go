package proxy

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/mdmproxy/mdmproxy/internal/testdns"
)

// dnsReply builds a reply to q with id and the given answers.
func dnsReply(t testing.TB, id uint16, q dnsmessage.Question, h dnsmessage.Header, answers ...dnsmessage.Resource) []byte {
	t.Helper()
	h.ID, h.Response = id, true
	m := dnsmessage.Message{Header: h, Questions: []dnsmessage.Question{q}, Answers: answers}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rrA(name string, ttl uint32, a string) dnsmessage.Resource {
	return dnsmessage.Resource{Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Class: dnsmessage.ClassINET, TTL: ttl},
		Body: &dnsmessage.AResource{A: netip.MustParseAddr(a).As4()}}
}

func rrAAAA(name string, ttl uint32, a string) dnsmessage.Resource {
	return dnsmessage.Resource{Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Class: dnsmessage.ClassINET, TTL: ttl},
		Body: &dnsmessage.AAAAResource{AAAA: netip.MustParseAddr(a).As16()}}
}

func rrCNAME(name string, ttl uint32, target string) dnsmessage.Resource {
	return dnsmessage.Resource{Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Class: dnsmessage.ClassINET, TTL: ttl},
		Body: &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(target)}}
}

func question(name string, qt dnsmessage.Type) dnsmessage.Question {
	return dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: qt, Class: dnsmessage.ClassINET}
}

func TestParseAnswers(t *testing.T) {
	qA := question("mtalk.example.", dnsmessage.TypeA)
	qAAAA := question("mtalk.example.", dnsmessage.TypeAAAA)
	ok := dnsmessage.Header{RCode: dnsmessage.RCodeSuccess}
	tests := []struct {
		name    string
		resp    []byte
		q       dnsmessage.Question
		want    []string
		ttl     time.Duration
		wantErr string
	}{
		{"two A", dnsReply(t, 7, qA, ok, rrA("mtalk.example.", 300, "192.0.2.1"), rrA("mtalk.example.", 60, "192.0.2.2")),
			qA, []string{"192.0.2.1", "192.0.2.2"}, 60 * time.Second, ""},
		{"AAAA", dnsReply(t, 7, qAAAA, ok, rrAAAA("mtalk.example.", 30, "2001:db8::1")),
			qAAAA, []string{"2001:db8::1"}, 30 * time.Second, ""},
		{"CNAME chain, case differs", dnsReply(t, 7, qA, ok, rrCNAME("MTalk.example.", 20, "b.example."), rrCNAME("b.example.", 600, "c.example."), rrA("c.example.", 90, "198.51.100.3")),
			qA, []string{"198.51.100.3"}, 20 * time.Second, ""},
		{"records for other names ignored", dnsReply(t, 7, qA, ok, rrA("evil.example.", 300, "203.0.113.66"), rrA("mtalk.example.", 300, "192.0.2.1")),
			qA, []string{"192.0.2.1"}, 300 * time.Second, ""},
		{"AAAA in an A answer ignored", dnsReply(t, 7, qA, ok, rrAAAA("mtalk.example.", 300, "2001:db8::1")),
			qA, nil, 0, ""},
		{"wrong id", dnsReply(t, 8, qA, ok, rrA("mtalk.example.", 300, "192.0.2.1")), qA, nil, 0, "does not match"},
		{"other question", dnsReply(t, 7, question("other.example.", dnsmessage.TypeA), ok, rrA("other.example.", 300, "192.0.2.1")), qA, nil, 0, "another question"},
		{"NXDOMAIN", dnsReply(t, 7, qA, dnsmessage.Header{RCode: dnsmessage.RCodeNameError}), qA, nil, 0, "NameError"},
		{"truncated", dnsReply(t, 7, qA, dnsmessage.Header{Truncated: true}), qA, nil, 0, "truncated"},
		{"garbage", []byte("not dns"), qA, nil, 0, "bad DNS answer"},
		{"empty", nil, qA, nil, 0, "bad DNS answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ttl, err := parseAnswers(tc.resp, 7, tc.q)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var gs []string
			for _, a := range got {
				gs = append(gs, a.String())
			}
			if !slices.Equal(gs, tc.want) || ttl != tc.ttl {
				t.Errorf("got %v ttl %v, want %v ttl %v", gs, ttl, tc.want, tc.ttl)
			}
		})
	}
}

// FuzzParseAnswers: no reply, however broken, makes the parser panic or return addresses with
// an error.
func FuzzParseAnswers(f *testing.F) {
	q := question("mtalk.example.", dnsmessage.TypeA)
	f.Add(dnsReply(f, 7, q, dnsmessage.Header{}, rrCNAME("mtalk.example.", 20, "b.example."), rrA("b.example.", 90, "198.51.100.3")))
	f.Add(dnsReply(f, 7, q, dnsmessage.Header{}, rrCNAME("mtalk.example.", 20, "mtalk.example.")))
	f.Add([]byte{0, 7, 0x80, 0, 0, 1, 0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		as, ttl, err := parseAnswers(b, 7, q)
		if err != nil && len(as) > 0 {
			t.Fatalf("addresses %v with error %v", as, err)
		}
		if ttl < 0 {
			t.Fatalf("negative TTL %v", ttl)
		}
	})
}

func TestNameServers(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	os.WriteFile(p, []byte("# comment\nsearch school.lan\nnameserver 192.0.2.53\nnameserver  2001:db8::53\nnameserver bogus\noptions ndots:2\n"), 0o644)
	got, err := nameServers(p)
	if want := []string{"192.0.2.53:53", "[2001:db8::53]:53"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("nameServers = %v, %v; want %v", got, err, want)
	}
	os.WriteFile(p, []byte("search school.lan\n"), 0o644)
	if got, _ := nameServers(p); len(got) != 2 || got[0] != "127.0.0.1:53" {
		t.Errorf("without nameserver lines: %v, want the local resolver", got)
	}
}

// FuzzParseNameServers: any resolv.conf gives servers that parse as HOST:53, or an error.
func FuzzParseNameServers(f *testing.F) {
	f.Add("nameserver 192.0.2.53\nnameserver fe80::1%eth0\n")
	f.Add("# nothing\nsearch a b c\n")
	f.Add("nameserver\nnameserver 999.1.1.1\n")
	f.Fuzz(func(t *testing.T, text string) {
		servers, err := parseNameServers(strings.NewReader(text))
		if err != nil {
			return
		}
		if len(servers) == 0 {
			t.Fatal("no servers and no error")
		}
		for _, s := range servers {
			if ap, err := netip.ParseAddrPort(s); err != nil || ap.Port() != 53 {
				t.Fatalf("server %q: %v", s, err)
			}
		}
	})
}

// serveDNS answers A queries for name with a over UDP on loopback; with truncateUDP the UDP
// answer is truncated and the full one comes over TCP on the same port. It returns the address.
func serveDNS(t *testing.T, name string, a string, truncateUDP bool) string {
	t.Helper()
	pc, ln := listenUDPAndTCP(t)
	answer := func(q testdns.Question) testdns.Answer {
		if q.Name != name {
			return testdns.Answer{NotFound: true}
		}
		return testdns.Answer{Addrs: []netip.Addr{netip.MustParseAddr(a)}, TTL: 42}
	}
	go testdns.ServeUDP(pc, func(q testdns.Question) testdns.Answer {
		if truncateUDP {
			return testdns.Answer{Truncated: true}
		}
		return answer(q)
	})
	go testdns.ServeTCP(ln, answer)
	return pc.LocalAddr().String()
}

// listenUDPAndTCP opens a UDP and a TCP socket on the same loopback port, as a DNS server has.
func listenUDPAndTCP(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 20 { // the TCP twin of a free UDP port may be taken; try a few
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			continue
		}
		t.Cleanup(func() { pc.Close(); ln.Close() })
		return pc, ln
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return nil, nil
}

func TestDNSClientLookup(t *testing.T) {
	for _, trunc := range []bool{false, true} {
		server := serveDNS(t, "push.example.", "203.0.113.5", trunc)
		// The first server is dead: the client must go on to the next.
		ap := netip.MustParseAddrPort(server)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, ttl, err := exchangeAny(ctx, []string{"127.0.0.1:1", ap.String()}, dnsmessage.MustNewName("push.example."), dnsmessage.TypeA)
		cancel()
		if err != nil || len(got) != 1 || got[0] != netip.MustParseAddr("203.0.113.5") || ttl != 42*time.Second {
			t.Errorf("truncated=%v: got %v ttl %v err %v", trunc, got, ttl, err)
		}
	}
}
