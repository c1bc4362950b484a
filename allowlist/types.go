package allowlist

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Action is what the policy does with a connection.
type Action uint8

const (
	// Deny refuses the connection.
	Deny Action = iota
	// Splice tunnels raw bytes to the destination: a rule allowed it.
	Splice
	// Upstream hands the connection to the upstream proxy (default_action: upstream).
	Upstream
	// Allow tunnels the connection because default_action is allow.
	Allow
)

var actionNames = [...]string{Deny: "deny", Splice: "splice", Upstream: "upstream", Allow: "allow"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// ParseDefaultAction parses the value of default_action.
func ParseDefaultAction(s string) (Action, error) {
	switch s {
	case "deny":
		return Deny, nil
	case "upstream":
		return Upstream, nil
	case "allow":
		return Allow, nil
	}
	return Deny, fmt.Errorf("%q is not one of deny, upstream, allow", s)
}

// TLSMode says what a rule accepts as the first bytes of a tunnel.
type TLSMode uint8

const (
	// TLSRequired refuses a tunnel whose first bytes are not a TLS ClientHello.
	TLSRequired TLSMode = iota
	// TLSOptional splices whatever the client sends.
	TLSOptional
)

func (m TLSMode) String() string {
	if m == TLSOptional {
		return "optional"
	}
	return "required"
}

// ParseTLSMode parses a rule's tls value; the empty string is the default, required.
func ParseTLSMode(s string) (TLSMode, error) {
	switch s {
	case "", "required":
		return TLSRequired, nil
	case "optional":
		return TLSOptional, nil
	}
	return TLSRequired, fmt.Errorf("%q is not one of required, optional", s)
}

// PortRange is an inclusive range of TCP ports; a single port has Lo == Hi.
type PortRange struct{ Lo, Hi uint16 }

// Ports is a set of port ranges.
type Ports []PortRange

// Contains reports whether port p is in the set.
func (ps Ports) Contains(p uint16) bool {
	for _, r := range ps {
		if r.Lo <= p && p <= r.Hi {
			return true
		}
	}
	return false
}

func (ps Ports) String() string {
	var b strings.Builder
	for i, r := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(r.Lo)))
		if r.Hi != r.Lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(r.Hi)))
		}
	}
	return b.String()
}

// ParsePortRange parses "443" or "5228-5230".
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	l, err := parsePort(strings.TrimSpace(lo))
	if err != nil {
		return PortRange{}, err
	}
	if !isRange {
		return PortRange{l, l}, nil
	}
	h, err := parsePort(strings.TrimSpace(hi))
	if err != nil {
		return PortRange{}, err
	}
	if h < l {
		return PortRange{}, fmt.Errorf("port range %q ends before it starts", s)
	}
	return PortRange{l, h}, nil
}

// parsePort parses a decimal port 1-65535 strictly: no sign, no spaces, no other base.
func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a port (1-65535)", s)
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return uint16(n), nil
}

// Rule is an allow rule as the configuration states it. Domains are exact names or "*." plus a
// suffix; they are normalised by Compile.
type Rule struct {
	Name       string
	Domains    []string
	CIDRs      []netip.Prefix
	Ports      Ports
	Persistent bool
	TLS        TLSMode
	// For says which clients the rule applies to; the zero value is every client.
	For Audience
	// Clients are the client prefixes of a rule For ListedClients; at least one.
	Clients []netip.Prefix

	// scope is what For resolves to in a compiled Policy: Clients, or the role's prefixes.
	scope []netip.Prefix
}

// Spec is everything Compile needs to build a Policy.
type Spec struct {
	Rules         []Rule
	DefaultAction Action
	// Report: decide and log, but let everything through (mode: report).
	Report bool
	// Clients may use the proxy; an empty list admits nobody.
	Clients []netip.Prefix
	// Roles: who the rules For ServerRole and AdminRole apply to; empty: nobody.
	Roles Roles
	// DenyCIDRs are destinations never dialled unless a rule names a prefix at least as specific.
	DenyCIDRs []netip.Prefix
}

// DefaultDenyCIDRs is the default of deny_cidrs: addresses a proxy on a school network must never
// be tricked into dialling (loopback, link-local and cloud metadata, private networks, CGNAT, ULA,
// multicast, prefixes that embed IPv4 addresses in IPv6, and the unspecified addresses).
var DefaultDenyCIDRs = mustPrefixes(
	"0.0.0.0/8",      // "this network", includes 0.0.0.0
	"10.0.0.0/8",     // RFC 1918
	"100.64.0.0/10",  // CGNAT, RFC 6598
	"127.0.0.0/8",    // loopback
	"169.254.0.0/16", // link-local, incl. 169.254.169.254 cloud metadata
	"172.16.0.0/12",  // RFC 1918
	"192.0.0.0/24",   // IETF protocol assignments
	"192.168.0.0/16", // RFC 1918
	"198.18.0.0/15",  // benchmarking
	"224.0.0.0/4",    // multicast
	"240.0.0.0/4",    // reserved, incl. 255.255.255.255
	"::/128",         // unspecified
	"::1/128",        // loopback
	"::/96",          // IPv4-compatible (deprecated)
	"64:ff9b::/96",   // NAT64 well-known prefix
	"64:ff9b:1::/48", // NAT64 local use
	"2001::/32",      // Teredo
	"2002::/16",      // 6to4
	"fc00::/7",       // ULA
	"fe80::/10",      // link-local
	"ff00::/8",       // multicast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}
