package config

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// normalizeDomainPattern checks a rule's domain, an exact name or "*." plus a suffix, and
// returns it lower-cased, without a trailing dot, IDNs as punycode. The policy's own function
// does it, so that the configuration and the policy agree on what a name is.
func normalizeDomainPattern(s string) (string, error) {
	return allowlist.NormalizeDomainPattern(s)
}

// normalizeHostName checks an exact host name (hosts entries, the host of an address) and
// normalises it like a domain, with plain words for the two common mistakes.
func normalizeHostName(s string) (string, error) {
	if strings.Contains(s, "*") {
		return "", fmt.Errorf("%s: a wildcard is not allowed here, only an exact name", quote(s))
	}
	if _, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return "", fmt.Errorf("%s is an IP address, not a host name", quote(s))
	}
	return allowlist.NormalizeName(s)
}
