package allowlist

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// maxNameLen is the longest DNS name in presentation form, without the trailing dot.
const maxNameLen = 253

// idnaProfile converts internationalised names to their ASCII (punycode) form the way a
// resolver would see them. Underscores are allowed because real service names carry them.
var idnaProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false))

// NormalizeName returns the canonical form of a host name: lower case, no trailing dot,
// internationalised labels as punycode. It refuses anything that is not a DNS name, including
// names that look numeric (such as "0x7f.1" or "2130706433"), because resolvers may read those
// as IPv4 addresses and a policy must not compare a name when an address is what gets dialled.
// It does not allocate when s is already canonical ASCII.
func NormalizeName(s string) (string, error) {
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	if s == "" {
		return "", errors.New("empty host name")
	}
	lower := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return normalizeIDN(s)
		case 'A' <= c && c <= 'Z':
			lower = false
		}
	}
	if !lower {
		s = strings.ToLower(s)
	}
	if err := checkName(s); err != nil {
		return "", err
	}
	return s, nil
}

func normalizeIDN(s string) (string, error) {
	// The IDNA mapping turns bytes that are not UTF-8 into U+FFFD, which then encodes as a
	// punycode label ("\xff.push.apple.com" would become "xn--zn7c.push.apple.com"): the name
	// a policy matched would not be the name the client sent.
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("host name %q is not valid UTF-8", s)
	}
	a, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("host name %q: %v", s, err)
	}
	a = strings.ToLower(strings.TrimSuffix(a, "."))
	if err := checkName(a); err != nil {
		return "", err
	}
	return a, nil
}

// checkName validates a lower-case ASCII name: letters, digits, '-' and '_' in labels of 1-63
// bytes, at most 253 bytes, and a last label that is not all digits.
func checkName(s string) error {
	if len(s) > maxNameLen {
		return fmt.Errorf("host name is longer than %d bytes", maxNameLen)
	}
	labelLen := 0
	digitsOnly := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if labelLen == 0 {
				return fmt.Errorf("host name %q has an empty label", s)
			}
			labelLen, digitsOnly = 0, true
			continue
		case 'a' <= c && c <= 'z', c == '-', c == '_':
			digitsOnly = false
		case '0' <= c && c <= '9':
		default:
			return fmt.Errorf("host name %q has a character that is not allowed (%q)", s, c)
		}
		labelLen++
		if labelLen > 63 {
			return fmt.Errorf("host name %q has a label longer than 63 bytes", s)
		}
	}
	if labelLen == 0 {
		return fmt.Errorf("host name %q has an empty label", s)
	}
	if digitsOnly {
		return fmt.Errorf("host name %q is numeric but not an IP address", s)
	}
	return nil
}

// NormalizeDomainPattern normalises a rule's domain: an exact name, or "*." followed by a
// suffix that matches any name below it (never the suffix itself).
func NormalizeDomainPattern(s string) (string, error) {
	rest, wild := strings.CutPrefix(strings.TrimSpace(s), "*.")
	if strings.Contains(rest, "*") {
		return "", fmt.Errorf("domain %q: a wildcard is only allowed as a leading \"*.\"", s)
	}
	if _, err := netip.ParseAddr(strings.Trim(rest, "[]")); err == nil {
		return "", fmt.Errorf("domain %q is an IP address; list it under cidrs", s)
	}
	n, err := NormalizeName(rest)
	if err != nil {
		return "", fmt.Errorf("domain %q: %v", s, err)
	}
	if wild {
		return "*." + n, nil
	}
	return n, nil
}

// CanonicalAddr returns a with IPv4-mapped IPv6 addresses unmapped and any zone dropped, the
// form every address comparison in this package uses.
func CanonicalAddr(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}
