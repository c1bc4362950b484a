package status

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// pushPorts are the ports of APNs and FCM: a rule suggested for one of them is persistent, as
// push connections live for hours.
var pushPorts = map[uint16]bool{5223: true, 5228: true, 5229: true, 5230: true}

// suggestion is a rules: snippet that would allow a refused target, for the admin to judge and
// copy; "" when no rule can allow it (fronting, bad input, a client outside clients). Nothing is
// ever allowed automatically.
func suggestion(r refusal) string {
	k := r.key
	if k.host == "" || k.port == 0 {
		return ""
	}
	var fix string
	switch k.reason {
	case allowlist.ReasonNoRule.String(), allowlist.ReasonPortNotAllowed.String(), allowlist.ReasonSNINotAllowed.String():
	case allowlist.ReasonNotTLS.String():
		fix = "    tls: optional\n"
	case allowlist.ReasonDeniedAddress.String():
		// The name resolved into deny_cidrs: only a rule listing the address opens it.
		if !r.addr.IsValid() {
			return ""
		}
		if _, err := netip.ParseAddr(k.host); err == nil {
			break // the target is the address itself: the cidrs line below covers it
		}
		fix = fmt.Sprintf("    cidrs: [%q]\n", netip.PrefixFrom(r.addr, r.addr.BitLen()).String())
	default:
		return ""
	}
	var b strings.Builder
	b.WriteString("rules:\n")
	fmt.Fprintf(&b, "  - name: %s\n", ruleName(k.host, k.port))
	if a, err := netip.ParseAddr(k.host); err == nil {
		fmt.Fprintf(&b, "    cidrs: [%q]\n", netip.PrefixFrom(a, a.BitLen()).String())
	} else {
		fmt.Fprintf(&b, "    domains: [%q]\n", k.host)
	}
	b.WriteString(fix)
	fmt.Fprintf(&b, "    ports: [%d]\n", k.port)
	if pushPorts[k.port] {
		b.WriteString("    persistent: true\n")
	}
	return b.String()
}

// ruleName is a rule name for host and port: "allow-" and the host's letters and digits.
func ruleName(host string, port uint16) string {
	var b strings.Builder
	b.WriteString("allow-")
	for _, c := range host {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case c >= 'A' && c <= 'Z':
			b.WriteRune(c + 'a' - 'A')
		default:
			b.WriteByte('-')
		}
	}
	b.WriteByte('-')
	b.WriteString(strconv.Itoa(int(port)))
	return b.String()
}
