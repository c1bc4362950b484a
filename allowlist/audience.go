package allowlist

import (
	"net/netip"
	"strconv"
	"strings"
)

// Audience says which clients a rule is for. For any other client the rule does not exist.
type Audience uint8

const (
	// Everyone: every client the proxy admits (preset entries of direction device; admin rules
	// without clients).
	Everyone Audience = iota
	// ServerRole: only clients in roles.server (preset entries of direction server).
	ServerRole
	// AdminRole: only clients in roles.admin (preset entries of direction admin).
	AdminRole
	// ListedClients: only the clients in the rule's own Clients (an admin rule with clients).
	ListedClients
)

var audienceNames = [...]string{Everyone: "every client", ServerRole: "roles.server", AdminRole: "roles.admin", ListedClients: "clients"}

func (a Audience) String() string {
	if int(a) < len(audienceNames) {
		return audienceNames[a]
	}
	return "audience(" + strconv.Itoa(int(a)) + ")"
}

// Scope returns the client prefixes a compiled rule is limited to (nil for Everyone). The
// caller must not modify them.
func (r *Rule) Scope() []netip.Prefix { return r.scope }

// appliesTo reports whether the rule exists for canonical client address c. It is on the
// decision's hit path: one comparison for a rule for everyone, a short scan otherwise.
func (r *Rule) appliesTo(c netip.Addr) bool {
	if r.For == Everyone {
		return true
	}
	for _, p := range r.scope {
		if p.Contains(c) {
			return true
		}
	}
	return false
}

// Roles are the clients the server- and admin-direction preset entries are for.
type Roles struct {
	Server []netip.Prefix // the on-premises MDM server(s)
	Admin  []netip.Prefix // admin workstations
}

// Matches reports whether the rule names the target on port, whoever asks: a domain pattern
// matching the normalised name, or a prefix containing the canonical address. It is for
// explanations (`mdmproxy check`), not for deciding: Decide uses the tries.
func (r *Rule) Matches(name string, addr netip.Addr, port uint16) bool {
	if !r.Ports.Contains(port) {
		return false
	}
	for _, d := range r.Domains {
		if name != "" && (d == name || (strings.HasPrefix(d, "*.") && strings.HasSuffix(name, d[1:]))) {
			return true
		}
	}
	for _, c := range r.CIDRs {
		if addr.IsValid() && c.Contains(addr) {
			return true
		}
	}
	return false
}

// AppliesTo reports whether the compiled rule exists for client c.
func (r *Rule) AppliesTo(c netip.Addr) bool { return r.appliesTo(CanonicalAddr(c)) }

// DescribeAudience says in words whom a compiled rule is for, e.g. "roles.server (10.1.2.3/32)".
func (r *Rule) DescribeAudience() string {
	if r.For == Everyone {
		return r.For.String()
	}
	ps := make([]string, len(r.scope))
	for i, p := range r.scope {
		ps[i] = p.String()
	}
	if len(ps) == 0 {
		return r.For.String() + " (empty: nobody)"
	}
	return r.For.String() + " (" + strings.Join(ps, ", ") + ")"
}
