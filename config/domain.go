package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// TODO(allowlist): use NormalizeDomainPattern; this helper stands in until it exists.

// idnaProfile maps names for lookup (lower case, NFC, punycode) without the STD3 rules, which
// would refuse underscores, nor the hyphen checks, which would refuse real CDN names such as
// r3---sn-abc.googlevideo.com. The ASCII result is checked by checkLabels.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
)

// normalizeDomainPattern checks a domain pattern, an exact name or "*." plus a suffix, and
// returns it lower-cased, without a trailing dot, IDNs as punycode.
func normalizeDomainPattern(s string) (string, error) {
	name, wildcard := strings.CutPrefix(s, "*.")
	n, err := normalizeHostName(name)
	if err != nil {
		return "", err
	}
	if wildcard {
		return "*." + n, nil
	}
	return n, nil
}

// normalizeHostName checks an exact host name (no wildcard) and normalises it.
func normalizeHostName(s string) (string, error) {
	if s == "" || s == "." {
		return "", errors.New("empty domain name")
	}
	if strings.Contains(s, "*") {
		return "", fmt.Errorf("%s: a wildcard may only be a leading \"*.\" (as in \"*.apple.com\")", quote(s))
	}
	if _, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return "", fmt.Errorf("%s is an IP address, not a domain name (put addresses in cidrs)", quote(s))
	}
	name := strings.TrimSuffix(s, ".")
	ascii, err := idnaProfile.ToASCII(name)
	if err != nil {
		return "", fmt.Errorf("%s is not a valid domain name: %v", quote(s), err)
	}
	ascii = strings.ToLower(ascii)
	if err := checkLabels(ascii); err != nil {
		return "", fmt.Errorf("%s is not a valid domain name: %v", quote(s), err)
	}
	return ascii, nil
}

// checkLabels checks an ASCII name: labels of 1-63 letters, digits, hyphens and underscores,
// not starting or ending with a hyphen, 253 characters at most, and not all-numeric at the
// end (which would be an IP address in disguise, such as 127.1).
func checkLabels(name string) error {
	if len(name) > 253 {
		return errors.New("longer than 253 characters")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return errors.New("empty label")
		}
		if len(l) > 63 {
			return fmt.Errorf("label %q is longer than 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with a hyphen", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("label %q has the character %q", l, c)
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") {
		return errors.New("looks like an IP address (put addresses in cidrs)")
	}
	return nil
}
