package testdns

import (
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func query(t *testing.T, name string, qt dnsmessage.Type) []byte {
	t.Helper()
	m := dnsmessage.Message{Header: dnsmessage.Header{ID: 99, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: qt, Class: dnsmessage.ClassINET}}}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReply(t *testing.T) {
	answer := func(q Question) Answer {
		switch q.Name {
		case "both.example.":
			return Answer{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}, TTL: 60}
		case "big.example.":
			return Answer{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, Truncated: true}
		}
		return Answer{NotFound: true}
	}
	for _, tc := range []struct {
		name  string
		qt    dnsmessage.Type
		want  string // the one address answered, "" for none
		rcode dnsmessage.RCode
		trunc bool
	}{
		{"Both.Example.", dnsmessage.TypeA, "192.0.2.1", dnsmessage.RCodeSuccess, false},
		{"both.example.", dnsmessage.TypeAAAA, "2001:db8::1", dnsmessage.RCodeSuccess, false},
		{"big.example.", dnsmessage.TypeA, "", dnsmessage.RCodeSuccess, true},
		{"none.example.", dnsmessage.TypeA, "", dnsmessage.RCodeNameError, false},
	} {
		var m dnsmessage.Message
		if err := m.Unpack(Reply(query(t, tc.name, tc.qt), answer)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got string
		for _, rr := range m.Answers {
			switch b := rr.Body.(type) {
			case *dnsmessage.AResource:
				got = netip.AddrFrom4(b.A).String()
			case *dnsmessage.AAAAResource:
				got = netip.AddrFrom16(b.AAAA).String()
			}
		}
		if m.ID != 99 || !m.Response || m.RCode != tc.rcode || m.Truncated != tc.trunc || got != tc.want || len(m.Answers) > 1 {
			t.Errorf("%s %s: id %d rcode %v truncated %v answers %v; want %q", tc.name, tc.qt, m.ID, m.RCode, m.Truncated, m.Answers, tc.want)
		}
	}
	if Reply([]byte("not dns"), answer) != nil {
		t.Error("garbage got a reply")
	}
}
