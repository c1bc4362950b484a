package allowlist

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
)

// Policy is an immutable, compiled allowlist. Build one with Compile and share it freely:
// nothing changes it after Compile returns, so a reload builds a new Policy and swaps a
// pointer while connections keep the snapshot they started with.
type Policy struct {
	rules         []Rule
	names         nameTrie
	addrs         addrTrie
	clients       addrTrie
	defaultAction Action
	report        bool
}

// Query is what is known about a connection when the policy is asked. The proxy asks again
// as it learns more (after resolving the name, after reading the ClientHello); each answer
// takes every known fact into account, so the last answer is the connection's decision.
type Query struct {
	Client netip.Addr // the client's address
	Name   string     // normalised destination name; "" when the target is an IP literal
	Addr   netip.Addr // the IP-literal target, or the address Name resolved to; zero if not known yet
	Port   uint16
	SNI    string // normalised server name from the ClientHello; "" when absent or not read yet
}

// Decision is the policy's answer.
type Decision struct {
	Action Action
	Rule   *Rule // the rule that allowed the target, or that named it when it was refused; may be nil
	Reason Reason
}

// Allowed reports whether the connection may proceed (splice, upstream or allow).
func (d Decision) Allowed() bool { return d.Action != Deny }

// RuleName is the rule's name, or "" when no rule is involved.
func (d Decision) RuleName() string {
	if d.Rule == nil {
		return ""
	}
	return d.Rule.Name
}

// yieldRules is how many rules Compile compiles between two yields to the Go scheduler: about
// half a millisecond of work. A goroutine otherwise keeps its processor for 10 ms or more, and
// when a reload compiles a large policy, tunnel pumps woken meanwhile on that processor would
// wait that long.
const yieldRules = 256

// Compile checks spec and builds a Policy. Domains are normalised; prefixes are canonicalised
// (IPv4-mapped IPv6 prefixes become IPv4 prefixes).
func Compile(spec Spec) (*Policy, error) {
	p := &Policy{
		rules:         make([]Rule, len(spec.Rules)),
		names:         newNameTrie(),
		addrs:         newAddrTrie(),
		clients:       newAddrTrie(),
		defaultAction: spec.DefaultAction,
		report:        spec.Report,
	}
	var errs []error
	for i := range spec.Rules {
		r := spec.Rules[i] // copy: the policy owns its rules
		r.Domains = append([]string(nil), r.Domains...)
		r.CIDRs = append([]netip.Prefix(nil), r.CIDRs...)
		r.Ports = append(Ports(nil), r.Ports...)
		r.Clients = append([]netip.Prefix(nil), r.Clients...)
		p.rules[i] = r
	}
	server, serr := canonicalPrefixes("roles.server", spec.Roles.Server)
	admin, aerr := canonicalPrefixes("roles.admin", spec.Roles.Admin)
	errs = append(errs, serr, aerr)
	for i := range p.rules {
		if i%yieldRules == yieldRules-1 {
			// A reload compiles on a running proxy; see yieldRules.
			runtime.Gosched()
		}
		r := &p.rules[i]
		if len(r.Ports) == 0 {
			errs = append(errs, fmt.Errorf("rule %q: no ports", r.Name))
		}
		switch r.For {
		case Everyone:
			r.scope = nil
		case ServerRole:
			r.scope = server
		case AdminRole:
			r.scope = admin
		case ListedClients:
			var err error
			if r.Clients, err = canonicalPrefixes("clients", r.Clients); err != nil {
				errs = append(errs, fmt.Errorf("rule %q: %v", r.Name, err))
			}
			if len(r.Clients) == 0 {
				errs = append(errs, fmt.Errorf("rule %q: clients is empty (leave it out for every client)", r.Name))
			}
			r.scope = r.Clients
		default:
			errs = append(errs, fmt.Errorf("rule %q: unknown audience %s", r.Name, r.For))
		}
		for j, d := range r.Domains {
			n, err := NormalizeDomainPattern(d)
			if err != nil {
				errs = append(errs, fmt.Errorf("rule %q: %v", r.Name, err))
				continue
			}
			r.Domains[j] = n
			p.names.insert(n, r)
		}
		for j, c := range r.CIDRs {
			c, err := canonicalPrefix(c)
			if err != nil {
				errs = append(errs, fmt.Errorf("rule %q: %v", r.Name, err))
				continue
			}
			r.CIDRs[j] = c
			e := p.addrs.entry(c)
			e.rules = append(e.rules, r)
		}
	}
	for _, c := range spec.DenyCIDRs {
		c, err := canonicalPrefix(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("deny_cidrs: %v", err))
			continue
		}
		p.addrs.entry(c).deny = true
	}
	for _, c := range spec.Clients {
		c, err := canonicalPrefix(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("clients: %v", err))
			continue
		}
		p.clients.entry(c).deny = true // in the clients trie, "deny" marks an admitted prefix
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// canonicalPrefixes canonicalises a list of prefixes (see canonicalPrefix) into a new slice;
// key names the list in the error.
func canonicalPrefixes(key string, ps []netip.Prefix) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ps))
	var errs []error
	for _, c := range ps {
		c, err := canonicalPrefix(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", key, err))
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// canonicalPrefix unmaps IPv4-mapped IPv6 prefixes (::ffff:0:0/96 and longer) to IPv4 and
// refuses invalid or zoned prefixes and prefixes with host bits set.
func canonicalPrefix(c netip.Prefix) (netip.Prefix, error) {
	if !c.IsValid() || c.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid prefix %s", c)
	}
	a := c.Addr()
	if a.Is4In6() && c.Bits() >= 96 {
		c = netip.PrefixFrom(a.Unmap(), c.Bits()-96)
	}
	if c.Masked() != c {
		return netip.Prefix{}, fmt.Errorf("prefix %s has host bits set (did you mean %s?)", c, c.Masked())
	}
	return c, nil
}

// Rules returns the compiled rules in configuration order. The caller must not modify them.
func (p *Policy) Rules() []Rule { return p.rules }

// DefaultAction is what happens to connections no rule allows.
func (p *Policy) DefaultAction() Action { return p.defaultAction }

// Report reports whether the policy runs in report mode (decide and log, let everything through).
func (p *Policy) Report() bool { return p.report }

// ClientAllowed reports whether a client address may use the proxy.
func (p *Policy) ClientAllowed(a netip.Addr) bool {
	a = CanonicalAddr(a)
	if !a.IsValid() {
		return false
	}
	// The clients trie has only marked entries, so any hit admits.
	return p.clients.denyBits(a) >= 0
}

// Decide is the one decision function: the proxy, `mdmproxy check`, the PAC generator and the
// tests all ask it. It does not resolve names and does not allocate.
//
// A rule exists only for the clients it is for (Rule.For): a rule for roles.server, roles.admin
// or its own clients is skipped for every other client, as if it were not configured.
//
// A name target is matched by domain rules only, never by the address it resolves to; when that
// address is known it must not be in deny_cidrs unless the same rule lists a prefix at least as
// specific that contains it. An IP-literal target is matched by the longest prefix over rule
// CIDRs and deny_cidrs together. An SNI must equal a name target, and must be allowed by a
// domain rule on the port when the target is an address.
func (p *Policy) Decide(q Query) Decision {
	client := CanonicalAddr(q.Client)
	if !client.IsValid() || p.clients.denyBits(client) < 0 {
		return Decision{Action: Deny, Reason: ReasonClientNotAllowed}
	}
	addr := CanonicalAddr(q.Addr)
	switch {
	case q.Name != "":
		r, named := p.names.match(q.Name, q.Port, client)
		if r == nil {
			return p.fallback(addr, named)
		}
		if q.SNI != "" && q.SNI != q.Name {
			return Decision{Action: Deny, Rule: r, Reason: ReasonSNIMismatch}
		}
		if addr.IsValid() && !p.ruleOpens(r, addr) {
			return Decision{Action: Deny, Rule: r, Reason: ReasonDeniedAddress}
		}
		return Decision{Action: Splice, Rule: r, Reason: ReasonRule}
	case addr.IsValid():
		r, denied, named := p.addrs.lookup(addr, q.Port, client)
		if r == nil {
			if denied {
				return Decision{Action: Deny, Reason: ReasonDeniedAddress}
			}
			return p.fallback(addr, named)
		}
		if q.SNI != "" {
			if sr, _ := p.names.match(q.SNI, q.Port, client); sr == nil {
				return Decision{Action: Deny, Rule: r, Reason: ReasonSNINotAllowed}
			}
		}
		return Decision{Action: Splice, Rule: r, Reason: ReasonRule}
	}
	return Decision{Action: Deny, Reason: ReasonBadTarget}
}

// ruleOpens reports whether r may reach canonical address a: a is outside deny_cidrs, or r
// lists a prefix containing a that is at least as specific as the deny_cidrs entry.
func (p *Policy) ruleOpens(r *Rule, a netip.Addr) bool {
	deny := p.addrs.denyBits(a)
	if deny < 0 {
		return true
	}
	for _, c := range r.CIDRs {
		if c.Bits() >= deny && c.Contains(a) {
			return true
		}
	}
	return false
}

// fallback decides for a target no rule allows.
func (p *Policy) fallback(addr netip.Addr, named bool) Decision {
	reason := ReasonNoRule
	if named {
		reason = ReasonPortNotAllowed
	}
	if p.defaultAction == Deny {
		return Decision{Action: Deny, Reason: reason}
	}
	if addr.IsValid() && p.addrs.denyBits(addr) >= 0 {
		return Decision{Action: Deny, Reason: ReasonDeniedAddress}
	}
	return Decision{Action: p.defaultAction, Reason: ReasonDefault}
}

// Explain says in one line why q got d, for a 403 body, a log line or `mdmproxy check`.
func (d Decision) Explain(q Query) string {
	target := q.Name
	if target == "" {
		target = CanonicalAddr(q.Addr).String()
	}
	port := strconv.Itoa(int(q.Port))
	switch d.Reason {
	case ReasonRule:
		return "rule " + d.RuleName() + " allows " + target + " on port " + port
	case ReasonDefault:
		return "no rule matches " + target + " on port " + port + "; default_action is " + d.Action.String()
	case ReasonClientNotAllowed:
		return "client " + q.Client.String() + " is not in clients"
	case ReasonNoRule:
		return "no rule allows " + target
	case ReasonPortNotAllowed:
		return "no rule allows " + target + " on port " + port
	case ReasonDeniedAddress:
		return "destination address " + CanonicalAddr(q.Addr).String() + " is in deny_cidrs"
	case ReasonSNIMismatch:
		return "TLS server name " + q.SNI + " differs from the CONNECT host " + q.Name
	case ReasonSNINotAllowed:
		return "no rule allows TLS server name " + q.SNI + " on port " + port
	case ReasonOwnAddress:
		return "destination " + netip.AddrPortFrom(CanonicalAddr(q.Addr), q.Port).String() + " is one of mdmproxy's own listeners"
	}
	return "no destination"
}
