package proxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsClient asks the name servers of resolv.conf for A and AAAA records and reports the
// answers' TTL, which the system resolver (net.Resolver) does not expose. It is used only to
// check that an intercepted flow's SNI resolves to the address the device connected to, so it
// asks the same servers the host (and, on a gateway, its clients) use.
type dnsClient struct {
	resolvConf string // "" is /etc/resolv.conf
}

var systemDNS dnsClient

// dnsPerServer bounds one exchange with one server, so that a dead first server leaves time
// for the next within timeouts.connect.
const dnsPerServer = 2 * time.Second

// lookup resolves name (a normalised host name) to its IPv4 and IPv6 addresses.
func (c dnsClient) lookup(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	servers, err := nameServers(c.resolvConf)
	if err != nil {
		return nil, 0, err
	}
	fqdn, err := dnsmessage.NewName(name + ".")
	if err != nil {
		return nil, 0, fmt.Errorf("resolving %s: %w", name, err)
	}
	var addrs []netip.Addr
	ttl := time.Duration(-1)
	var errs []error
	for _, qt := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
		as, t, err := exchangeAny(ctx, servers, fqdn, qt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		addrs = append(addrs, as...)
		if len(as) > 0 && (ttl < 0 || t < ttl) {
			ttl = t
		}
	}
	if len(addrs) == 0 {
		if err := errors.Join(errs...); err != nil {
			return nil, 0, fmt.Errorf("resolving %s: %w", name, err)
		}
		return nil, 0, fmt.Errorf("resolving %s: no addresses", name)
	}
	return addrs, ttl, nil
}

// exchangeAny asks each server in turn until one answers.
func exchangeAny(ctx context.Context, servers []string, name dnsmessage.Name, qt dnsmessage.Type) ([]netip.Addr, time.Duration, error) {
	var firstErr error
	for _, s := range servers {
		as, ttl, err := exchange(ctx, s, name, qt)
		if err == nil {
			return as, ttl, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, 0, firstErr
}

// exchange sends one query over UDP, and again over TCP when the answer was truncated.
func exchange(ctx context.Context, server string, name dnsmessage.Name, qt dnsmessage.Type) ([]netip.Addr, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, dnsPerServer)
	defer cancel()
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q := dnsmessage.Question{Name: name, Type: qt, Class: dnsmessage.ClassINET}
	msg := dnsmessage.Message{Header: dnsmessage.Header{ID: id, RecursionDesired: true}, Questions: []dnsmessage.Question{q}}
	query, err := msg.Pack()
	if err != nil {
		return nil, 0, err
	}
	resp, err := dnsRoundTrip(ctx, "udp", server, query)
	if err != nil {
		return nil, 0, err
	}
	as, ttl, err := parseAnswers(resp, id, q)
	if errors.Is(err, errTruncated) {
		if resp, err = dnsRoundTrip(ctx, "tcp", server, query); err != nil {
			return nil, 0, err
		}
		as, ttl, err = parseAnswers(resp, id, q)
	}
	return as, ttl, err
}

// dnsRoundTrip sends query to server over network and returns the reply: one datagram for UDP,
// one length-prefixed message for TCP (RFC 1035 4.2.2).
func dnsRoundTrip(ctx context.Context, network, server string, query []byte) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if network == "udp" {
		if _, err := c.Write(query); err != nil {
			return nil, err
		}
		buf := make([]byte, 1232) // the EDNS-safe size; anything larger comes truncated
		n, err := c.Read(buf)
		return buf[:n], err
	}
	framed := binary.BigEndian.AppendUint16(nil, uint16(len(query)))
	if _, err := c.Write(append(framed, query...)); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	resp := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err = io.ReadFull(c, resp)
	return resp, err
}

var errTruncated = errors.New("truncated DNS answer")

// parseAnswers reads a DNS reply to question q sent with id: the A or AAAA records of the name
// or of the names its CNAME chain leads to, and the smallest TTL among the records used.
func parseAnswers(resp []byte, id uint16, q dnsmessage.Question) ([]netip.Addr, time.Duration, error) {
	var p dnsmessage.Parser
	h, err := p.Start(resp)
	if err != nil {
		return nil, 0, fmt.Errorf("bad DNS answer: %w", err)
	}
	if h.ID != id || !h.Response {
		return nil, 0, errors.New("DNS answer does not match the query")
	}
	if h.Truncated {
		return nil, 0, errTruncated
	}
	if h.RCode != dnsmessage.RCodeSuccess {
		return nil, 0, fmt.Errorf("DNS answer: %s", h.RCode)
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 || !strings.EqualFold(qs[0].Name.String(), q.Name.String()) || qs[0].Type != q.Type {
		return nil, 0, errors.New("DNS answer is for another question")
	}
	rrs, err := p.AllAnswers()
	if err != nil {
		return nil, 0, fmt.Errorf("bad DNS answer: %w", err)
	}
	// Follow the CNAME chain from the asked name; records for other names are ignored, so a
	// server's extra records cannot vouch for an address.
	names := map[string]bool{strings.ToLower(q.Name.String()): true}
	var addrs []netip.Addr
	ttl := time.Duration(-1)
	use := func(h dnsmessage.ResourceHeader) {
		if t := time.Duration(h.TTL) * time.Second; ttl < 0 || t < ttl {
			ttl = t
		}
	}
	for range len(rrs) { // a chain is at most as long as the answer; each pass adds a link
		grew := false
		for _, rr := range rrs {
			if c, ok := rr.Body.(*dnsmessage.CNAMEResource); ok && names[strings.ToLower(rr.Header.Name.String())] {
				if t := strings.ToLower(c.CNAME.String()); !names[t] {
					names[t] = true
					use(rr.Header)
					grew = true
				}
			}
		}
		if !grew {
			break
		}
	}
	for _, rr := range rrs {
		if !names[strings.ToLower(rr.Header.Name.String())] {
			continue
		}
		switch b := rr.Body.(type) {
		case *dnsmessage.AResource:
			if q.Type == dnsmessage.TypeA {
				addrs = append(addrs, netip.AddrFrom4(b.A))
				use(rr.Header)
			}
		case *dnsmessage.AAAAResource:
			if q.Type == dnsmessage.TypeAAAA {
				addrs = append(addrs, netip.AddrFrom16(b.AAAA).Unmap())
				use(rr.Header)
			}
		}
	}
	return addrs, max(ttl, 0), nil
}

// nameServers reads the nameserver lines of resolv.conf (path; "" is /etc/resolv.conf) as
// HOST:53 addresses; with none, the local resolver, as the C library does.
func nameServers(path string) ([]string, error) {
	if path == "" {
		path = "/etc/resolv.conf"
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return localNameServers, nil
		}
		return nil, fmt.Errorf("reading the name servers: %w", err)
	}
	defer f.Close()
	return parseNameServers(f)
}

var localNameServers = []string{"127.0.0.1:53", "[::1]:53"}

// parseNameServers is nameServers on the text of a resolv.conf.
func parseNameServers(r io.Reader) ([]string, error) {
	var servers []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		servers = append(servers, netip.AddrPortFrom(a, 53).String())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the name servers: %w", err)
	}
	if len(servers) == 0 {
		return localNameServers, nil
	}
	return servers, nil
}
