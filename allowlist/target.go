package allowlist

import (
	"fmt"
	"net/netip"
	"strings"
)

// Target is the destination a client asked for: a normalised name or an address, and a port.
type Target struct {
	Name string     // normalised host name; "" when the target is an IP literal
	Addr netip.Addr // the IP literal; the zero Addr when Name is set
	Port uint16
}

// HostPort formats the target for logs and messages, bracketing IPv6 addresses.
func (t Target) HostPort() string {
	host := t.Name
	if host == "" {
		host = t.Addr.String()
		if t.Addr.Is6() {
			host = "[" + host + "]"
		}
	}
	return fmt.Sprintf("%s:%d", host, t.Port)
}

// ParseTarget parses a CONNECT request target (authority form, "host:port") strictly: a DNS
// name, a dotted-quad IPv4 address or a bracketed IPv6 address, then a decimal port 1-65535.
// It refuses user info, paths, percent-encoding, IPv6 zones and anything else that different
// parsers could read differently.
func ParseTarget(s string) (Target, error) {
	if s == "" {
		return Target{}, fmt.Errorf("empty target")
	}
	if len(s) > maxNameLen+8 {
		return Target{}, fmt.Errorf("target is too long")
	}
	var host, port string
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 || end+1 >= len(s) || s[end+1] != ':' {
			return Target{}, fmt.Errorf("target %q: want [IPv6]:port", s)
		}
		host, port = s[1:end], s[end+2:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return Target{}, fmt.Errorf("target %q: %q is not an IPv6 address", s, host)
		}
		p, err := parsePort(port)
		if err != nil {
			return Target{}, fmt.Errorf("target %q: %v", s, err)
		}
		return Target{Addr: CanonicalAddr(a), Port: p}, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Target{}, fmt.Errorf("target %q has no port", s)
	}
	host, port = s[:i], s[i+1:]
	if strings.IndexByte(host, ':') >= 0 {
		return Target{}, fmt.Errorf("target %q: an IPv6 address must be in brackets", s)
	}
	p, err := parsePort(port)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %v", s, err)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return Target{Addr: CanonicalAddr(a), Port: p}, nil
	}
	name, err := NormalizeName(host)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %v", s, err)
	}
	return Target{Name: name, Port: p}, nil
}
