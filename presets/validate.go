package presets

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// validate checks the catalogue's content: names, groups, and every entry's domains, CIDRs,
// ports, direction, tls mode, sources and date. It reports every problem, not just the first.
func validate(ps []Preset) error {
	byName := make(map[string]Preset, len(ps))
	for _, p := range ps {
		byName[p.Name] = p
	}
	var errs []error
	for _, p := range ps {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("preset %s: "+format, append([]any{p.Name}, args...)...))
		}
		if !isSlug(p.Name) {
			fail("name must be lower-case letters, digits and '-'")
		}
		if p.Description == "" || strings.Contains(p.Description, "\n") {
			fail("needs a one-line description")
		}
		if err := markdownSafe(p.Description); err != nil {
			fail("description: %v", err)
		}
		if p.IsGroup() {
			if len(p.Entries) > 0 || p.Legacy {
				fail("a group has members only (no entries, not legacy)")
			}
			seen := map[string]bool{}
			for _, m := range p.Group {
				mp, ok := byName[m]
				switch {
				case !ok:
					fail("member %q does not exist", m)
				case mp.IsGroup() || mp.Legacy:
					fail("member %q is a group or a legacy preset", m)
				case seen[m]:
					fail("member %q is listed twice", m)
				}
				seen[m] = true
			}
			continue
		}
		if len(p.Entries) == 0 {
			fail("has neither entries nor group members")
		}
		errs = append(errs, validateEntries(p)...)
	}
	errs = append(errs, validateAgreement(ps)...)
	return errors.Join(errs...)
}

// claim is one entry's hold on a destination pattern and port range, with the flags it gives it.
type claim struct {
	ports      allowlist.PortRange
	persistent bool
	tls        allowlist.TLSMode
	entry      string // preset/entry
}

// validateAgreement refuses data in which two entries of different presets allow the same
// domain pattern or prefix on an overlapping port with different persistent or tls. The
// decision function picks, for one pattern, the first rule in the order the presets were
// named; only when such entries agree does the order of presets: never change a tunnel. An
// exact name and a wildcard, or two prefixes of different lengths, are not order-dependent:
// the most specific one always wins.
func validateAgreement(ps []Preset) []error {
	var errs []error
	claims := map[string][]claim{}
	for _, p := range ps {
		for _, e := range p.Entries {
			tls, _ := allowlist.ParseTLSMode(e.TLS) // validateEntries reports a bad mode
			name := p.Name + "/" + e.Name
			for _, s := range e.Ports {
				r, err := allowlist.ParsePortRange(s)
				if err != nil {
					continue
				}
				c := claim{r, e.Persistent, tls, name}
				for _, pat := range append(slices.Clone(e.Domains), e.CIDRs...) {
					for _, o := range claims[pat] {
						if o.ports.Lo <= r.Hi && r.Lo <= o.ports.Hi && (o.persistent != c.persistent || o.tls != c.tls) {
							errs = append(errs, fmt.Errorf("%s and %s both allow %s on port %s but disagree on persistent (%v, %v) or tls (%s, %s): the outcome would depend on the order of presets",
								o.entry, name, pat, (allowlist.Ports{overlap(o.ports, r)}).String(), o.persistent, c.persistent, o.tls, c.tls))
						}
					}
					claims[pat] = append(claims[pat], c)
				}
			}
		}
	}
	return errs
}

// overlap is the intersection of two overlapping port ranges.
func overlap(a, b allowlist.PortRange) allowlist.PortRange {
	return allowlist.PortRange{Lo: max(a.Lo, b.Lo), Hi: min(a.Hi, b.Hi)}
}

// target is one destination pattern (a domain or a prefix) on one port range, for finding two
// entries of a preset that claim the same destination.
type target struct {
	pattern string
	ports   allowlist.PortRange
	entry   string
}

func validateEntries(p Preset) []error {
	var errs []error
	names := map[string]bool{}
	var claimed []target
	for _, e := range p.Entries {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s/%s: "+format, append([]any{p.Name, e.Name}, args...)...))
		}
		if !isSlug(e.Name) {
			fail("entry name must be lower-case letters, digits and '-'")
		}
		if names[e.Name] {
			fail("entry name used twice in the preset")
		}
		names[e.Name] = true

		var patterns []string
		for _, d := range e.Domains {
			if n, err := allowlist.NormalizeDomainPattern(d); err != nil {
				fail("%v", err)
			} else if n != d {
				fail("domain %q is not in canonical form (%q)", d, n)
			}
			patterns = append(patterns, d)
		}
		for _, c := range e.CIDRs {
			pr, err := netip.ParsePrefix(c)
			switch {
			case err != nil:
				fail("cidr: %v", err)
			case pr.Masked() != pr || pr.Addr().Is4In6() || pr.String() != c:
				fail("cidr %q is not canonical (%s)", c, pr.Masked())
			}
			patterns = append(patterns, c)
		}
		if len(patterns) == 0 {
			fail("needs domains or cidrs")
		}
		if dup := firstDuplicate(patterns); dup != "" {
			fail("%q is listed twice", dup)
		}

		tls, err := allowlist.ParseTLSMode(e.TLS)
		if err != nil {
			fail("tls: %v", err)
		}
		if len(e.Ports) == 0 {
			fail("needs ports")
		}
		for _, s := range e.Ports {
			r, err := allowlist.ParsePortRange(s)
			if err != nil {
				fail("port: %v", err)
				continue
			}
			if canon := (allowlist.Ports{r}).String(); canon != s {
				fail("port %q is not in canonical form (%q)", s, canon)
			}
			// Plain HTTP must be tls: optional, and an optional entry must not weaken HTTPS.
			if r.Lo <= 80 && 80 <= r.Hi && tls != allowlist.TLSOptional {
				fail("port 80 is plain HTTP: set tls: optional")
			}
			if r.Lo <= 443 && 443 <= r.Hi && tls == allowlist.TLSOptional {
				fail("tls: optional must not cover port 443; put 443 in an entry of its own")
			}
			for _, pat := range patterns {
				for _, c := range claimed {
					if c.pattern == pat && c.ports.Lo <= r.Hi && r.Lo <= c.ports.Hi {
						fail("%s on %s is also in entry %s", pat, s, c.entry)
					}
				}
			}
			for _, pat := range patterns {
				claimed = append(claimed, target{pat, r, e.Name})
			}
		}

		switch e.Direction {
		case DirectionDevice, DirectionServer, DirectionAdmin:
		default:
			fail("direction %q is not one of device, server, admin", e.Direction)
		}
		if e.Purpose == "" || strings.Contains(e.Purpose, "\n") {
			fail("needs a one-line purpose")
		}
		for _, text := range []string{e.Purpose, e.Note} {
			if err := markdownSafe(text); err != nil {
				fail("%v", err)
			}
		}
		if len(e.Sources) == 0 {
			fail("needs at least one source")
		}
		for _, s := range e.Sources {
			if !isHTTPURL(s) {
				fail("source %q is not an http(s) URL", s)
			}
		}
		if _, err := time.Parse(time.DateOnly, e.Read); err != nil {
			fail("read %q is not a date (YYYY-MM-DD)", e.Read)
		}
		if e.Probe != nil {
			if err := validateProbe(e); err != nil {
				fail("probe: %v", err)
			}
		}
	}
	return errs
}

// validateProbe checks that an entry's probe is an exact, canonical name one of the entry's
// domains matches, with an http(s) source.
func validateProbe(e Entry) error {
	pr := e.Probe
	n, err := allowlist.NormalizeDomainPattern(pr.Name)
	switch {
	case err != nil:
		return err
	case n != pr.Name || strings.HasPrefix(n, "*."):
		return fmt.Errorf("name %q must be an exact name in canonical form", pr.Name)
	case !matchesAny(e.Domains, n):
		return fmt.Errorf("name %q is not matched by the entry's domains", pr.Name)
	}
	if !isHTTPURL(pr.Source) {
		return fmt.Errorf("source %q is not an http(s) URL", pr.Source)
	}
	return nil
}

// matchesAny reports whether a normalised name is one of patterns or below one of its "*." patterns.
func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if p == name || (strings.HasPrefix(p, "*.") && strings.HasSuffix(name, p[1:])) {
			return true
		}
	}
	return false
}

// isHTTPURL reports whether s is an absolute http or https URL with a host.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// isSlug reports whether s is a non-empty run of lower-case letters, digits and inner hyphens.
func isSlug(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// markdownSafe refuses text that would render wrongly in docs/presets.md: '*', '<', '>' and '|'
// belong inside `code` (a host pattern such as `*.apple.com`), where Markdown leaves them alone.
func markdownSafe(s string) error {
	code := false
	for _, c := range s {
		switch {
		case c == '`':
			code = !code
		case !code && strings.ContainsRune("*<>|", c):
			return fmt.Errorf("%q has %q outside `code`", s, c)
		}
	}
	if code {
		return fmt.Errorf("%q has an unclosed `", s)
	}
	return nil
}

// firstDuplicate returns the first string that occurs twice in ss, or "".
func firstDuplicate(ss []string) string {
	seen := make(map[string]bool, len(ss))
	for _, s := range ss {
		if seen[s] {
			return s
		}
		seen[s] = true
	}
	return ""
}
