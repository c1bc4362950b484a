// Package testdns is a DNS server for tests, over UDP and TCP, answering A and AAAA queries
// from a function the test gives:
//
//	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
//	go testdns.ServeUDP(pc, func(q testdns.Question) testdns.Answer {
//		return testdns.Answer{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, TTL: 60}
//	})
//
// It serves until the socket or listener is closed. Nothing here is fit for anything but tests.
package testdns

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// Question is what a query asks: the name (lower case, with its trailing dot) and the type.
type Question struct {
	Name string
	Type dnsmessage.Type
}

// Answer is the reply to a Question. Addrs of the other family than the question's are left
// out; NotFound answers NXDOMAIN; Truncated answers an empty, truncated reply (the client must
// ask again over TCP).
type Answer struct {
	Addrs     []netip.Addr
	TTL       uint32
	NotFound  bool
	Truncated bool
}

// Reply is the reply to the query req, or nil when req is not a query.
func Reply(req []byte, answer func(Question) Answer) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	a := answer(Question{Name: strings.ToLower(q.Name.String()), Type: q.Type})
	m := dnsmessage.Message{Header: dnsmessage.Header{ID: h.ID, Response: true, RecursionAvailable: true, Truncated: a.Truncated},
		Questions: []dnsmessage.Question{q}}
	if a.NotFound {
		m.Header.RCode = dnsmessage.RCodeNameError
	}
	for _, addr := range a.Addrs {
		if a.Truncated {
			break
		}
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: a.TTL}
		switch {
		case addr.Is4() && q.Type == dnsmessage.TypeA:
			m.Answers = append(m.Answers, dnsmessage.Resource{Header: rh, Body: &dnsmessage.AResource{A: addr.As4()}})
		case addr.Is6() && q.Type == dnsmessage.TypeAAAA:
			m.Answers = append(m.Answers, dnsmessage.Resource{Header: rh, Body: &dnsmessage.AAAAResource{AAAA: addr.As16()}})
		}
	}
	b, _ := m.Pack()
	return b
}

// ServeUDP answers the queries arriving on pc until it is closed.
func ServeUDP(pc net.PacketConn, answer func(Question) Answer) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := Reply(buf[:n], answer); resp != nil {
			pc.WriteTo(resp, from)
		}
	}
}

// ServeTCP answers one length-prefixed query per connection accepted on ln (RFC 1035 4.2.2)
// until ln is closed.
func ServeTCP(ln net.Listener, answer func(Question) Answer) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err == nil {
			req := make([]byte, binary.BigEndian.Uint16(l[:]))
			if _, err := io.ReadFull(c, req); err == nil {
				if resp := Reply(req, answer); resp != nil {
					c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(resp))), resp...))
				}
			}
		}
		c.Close()
	}
}
