package pac

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// Route is where the PAC file sends a class of destinations.
type Route uint8

const (
	// Proxy sends them to this proxy (the address the file is rendered for).
	Proxy Route = iota
	// Direct lets the device connect by itself.
	Direct
	// Upstream sends them to the upstream proxy (Options.Upstream).
	Upstream
)

// ParseRoute parses pac.mdm and pac.rest values: proxy, direct or upstream.
func ParseRoute(s string) (Route, error) {
	switch s {
	case "proxy":
		return Proxy, nil
	case "direct":
		return Direct, nil
	case "upstream":
		return Upstream, nil
	}
	return Proxy, fmt.Errorf("%q is not one of proxy, upstream, direct", s)
}

func (r Route) String() string {
	switch r {
	case Direct:
		return "direct"
	case Upstream:
		return "upstream"
	}
	return "proxy"
}

// DefaultInlineMax is how many names a list may hold and still be written as inline tests.
const DefaultInlineMax = 64

// Options is what the PAC file is generated from. The zero Options (with a Policy) sends MDM
// destinations and the rest to this proxy.
type Options struct {
	// Policy supplies the MDM destinations: every rule's domains and CIDRs.
	Policy *allowlist.Policy
	// PolicyHash names the policy in the file's header (allowlist.Spec.Hash, as /metrics and
	// the status page show it).
	PolicyHash string
	// MDM is where MDM destinations go: Proxy or Direct.
	MDM Route
	// Rest is where everything else goes: Proxy, Upstream or Direct.
	Rest Route
	// Upstream is the upstream proxy's HOST:PORT, without credentials; needed when Rest is
	// Upstream.
	Upstream string
	// Direct lists normalised domain patterns and CIDRs that always go DIRECT (pac.direct).
	Direct []string
	// InlineMax: name lists of at most this many entries are written as inline tests, longer
	// ones as lookup tables. 0 means DefaultInlineMax; a negative value always uses tables.
	InlineMax int
}

// File is a generated PAC file, waiting for the proxy address it names. It is immutable.
type File struct {
	head    string // comment lines: the policy and the routes
	body    []byte // everything after the proxy's address
	bodySum [sha256.Size]byte
}

// Generate writes the PAC file for o. It fails on a Direct entry that is not a domain pattern
// or a CIDR, and on Rest Upstream without an upstream address.
func Generate(o Options) (*File, error) {
	if o.Policy == nil {
		return nil, errors.New("pac: no policy")
	}
	if o.MDM == Upstream {
		return nil, errors.New("pac: MDM destinations go to this proxy or direct, not upstream")
	}
	upstream := ""
	if o.Rest == Upstream {
		var err error
		if upstream, err = CanonicalHostPort(o.Upstream); err != nil {
			return nil, fmt.Errorf("pac: upstream: %v", err)
		}
		o.Upstream = upstream // the header names it too
	}
	inlineMax := o.InlineMax
	if inlineMax == 0 {
		inlineMax = DefaultInlineMax
	}
	direct, err := directSet(o.Direct)
	if err != nil {
		return nil, err
	}
	mdm := mdmSet(o.Policy.Rules())

	var b bytes.Buffer
	w := writer{b: &b, inlineMax: inlineMax}
	w.main(o.MDM, o.Rest, upstream)
	w.set("isDirect", "pac.direct: always DIRECT.", direct)
	w.set("isMDM", "MDM destinations: every rule's domains, and its CIDRs for IP-literal hosts.", mdm)
	for _, js := range w.lookups {
		w.lines(js)
	}
	f := &File{head: header(o, len(o.Policy.Rules())), body: b.Bytes()}
	f.bodySum = sha256.Sum256(f.body)
	return f, nil
}

// header is the file's comment header: what it was generated from and what it does.
func header(o Options, rules int) string {
	rest := o.Rest.String()
	if o.Rest == Upstream {
		rest = "upstream " + o.Upstream
	}
	return fmt.Sprintf("// mdmproxy PAC file, generated from the policy; `mdmproxy pac` prints it. Do not edit.\n"+
		"// policy %s, %d rules\n"+
		"// MDM destinations: %s; pac.direct and plain host names: direct; the rest: %s.\n"+
		"// Hosts are matched by name (exact, or *. wildcard) or, for IP literals, by CIDR; no name is resolved.\n"+
		"// Ports are the proxy's to enforce.\n",
		o.PolicyHash, rules, o.MDM, rest)
}

// CanonicalHostPort checks a proxy address for the file and returns its canonical form: a
// host name (lower case, no trailing dot), an IPv4 address or a bracketed IPv6 address, and a
// port. It is written into a JavaScript string, so nothing else may pass.
func CanonicalHostPort(s string) (string, error) {
	t, err := allowlist.ParseTarget(s)
	if err != nil {
		return "", err
	}
	return t.HostPort(), nil
}

// A set is the destinations of one route: names and prefixes, each with the rule that
// brought it (for a comment), in order of first appearance, without repeats.
type set struct {
	names []entry // exact names and "*." wildcards
	v4    []entry // IPv4 prefixes
	v6    []entry // IPv6 prefixes
	seen  map[string]bool
}

type entry struct{ value, rule string }

func (s *set) add(value, rule string) {
	if s.seen == nil {
		s.seen = make(map[string]bool)
	}
	if s.seen[value] {
		return
	}
	s.seen[value] = true
	e := entry{value, rule}
	if p, err := netip.ParsePrefix(value); err == nil {
		if p.Addr().Is4() {
			s.v4 = append(s.v4, e)
		} else {
			s.v6 = append(s.v6, e)
		}
		return
	}
	s.names = append(s.names, e)
}

// mdmSet is every rule's domains and CIDRs.
func mdmSet(rules []allowlist.Rule) *set {
	s := &set{}
	for i := range rules {
		r := &rules[i]
		for _, d := range r.Domains {
			s.add(d, r.Name)
		}
		for _, c := range r.CIDRs {
			s.add(c.String(), r.Name)
		}
	}
	return s
}

// directSet is pac.direct, checked again: the values are written into the script.
func directSet(entries []string) (*set, error) {
	s := &set{}
	for _, d := range entries {
		if strings.Contains(d, "/") {
			p, err := netip.ParsePrefix(d)
			if err != nil || p.Masked() != p {
				return nil, fmt.Errorf("pac: direct entry %q is not a CIDR", d)
			}
			s.add(p.String(), "pac.direct")
			continue
		}
		n, err := allowlist.NormalizeDomainPattern(d)
		if err != nil {
			return nil, fmt.Errorf("pac: direct entry: %v", err)
		}
		s.add(n, "pac.direct")
	}
	return s, nil
}
