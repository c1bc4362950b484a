package events

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds what the text formats (CEF, LEEF, Squid) share: how a
// value is cut, how numbers, times and addresses are appended, and the
// severity an action maps to. Each format's escaping lives with the format.

// maxTextValue bounds one value in the text formats: CEF's longest standard
// keys (request, cs1 to cs6) allow 1023 and 4000 characters; a ClientHello
// name or a URL longer than this is an attack, not data a SIEM rule needs.
const maxTextValue = 1023

// cutUTF8 returns s cut to at most n bytes, on a UTF-8 boundary when s is
// valid there.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > n-utf8.UTFMax && i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// appendEscaped appends s to dst, cut to maxTextValue bytes, passing each
// rune that is not plain printable ASCII, or is one of the format's special
// characters, through esc. Invalid UTF-8 becomes U+FFFD; esc decides
// everything else. It is the one loop behind every text format's escaping,
// so none of them can forget the cut or the UTF-8 check.
func appendEscaped(dst []byte, s string, special string, esc func(dst []byte, r rune) []byte) []byte {
	s = cutUTF8(s, maxTextValue)
	for i := 0; i < len(s); {
		if c := s[i]; c >= 0x20 && c < 0x7f && strings.IndexByte(special, c) < 0 {
			dst = append(dst, c) // the common case: a host name, a rule name
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
			i++
			continue
		}
		dst = esc(dst, r)
		i += size
	}
	return dst
}

// isControl reports whether r is a C0 or C1 control character or DEL: bytes
// that may end a line or a field in some receiver and never belong in a
// host name, a rule name or a URL.
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029'
}

// appendAddr appends a as text, IPv4-mapped addresses as IPv4, without zone.
func appendAddr(dst []byte, a netip.Addr) []byte {
	return a.Unmap().WithZone("").AppendTo(dst)
}

// appendAddrPort appends ap as IP:PORT ([IPv6]:PORT).
func appendAddrPort(dst []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap().WithZone("")
	if a.Is6() {
		dst = append(dst, '[')
		dst = a.AppendTo(dst)
		dst = append(dst, ']')
	} else {
		dst = a.AppendTo(dst)
	}
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(ap.Port()), 10)
}

// eventTime is e.Time, or now when unset.
func eventTime(e *Event) time.Time {
	if e.Time.IsZero() {
		return time.Now()
	}
	return e.Time
}

// appendMillis appends t as milliseconds since the Unix epoch.
func appendMillis(dst []byte, t time.Time) []byte {
	return strconv.AppendInt(dst, t.UnixMilli(), 10)
}

// severity is the 0-10 severity of CEF and LEEF: what a SOC should look at
// first. A refusal or a report of lost events ranks highest, then a flow
// enforce would have refused (report mode), then an allowed flow that could
// not be established or ended in a failure; ordinary traffic is 1.
func severity(e *Event) int {
	switch {
	case e.Action == ActionDeny, e.Action == ActionDropped:
		return 5
	case e.EnforceAction == ActionDeny:
		return 4
	case e.State() == StateNotEstablished:
		return 4
	case e.outcome() == OutcomeFailure:
		return 3
	}
	return 1
}

// eventName is a short human description of the event, for CEF's Name.
func eventName(e *Event) string {
	switch e.Action {
	case ActionDeny:
		return "connection denied"
	case ActionEnd:
		return "connection ended"
	case ActionDropped:
		return "events dropped"
	}
	if e.State() == StateNotEstablished {
		return "connection not established"
	}
	switch e.Action {
	case ActionSplice:
		return "connection spliced"
	case ActionUpstream:
		return "connection sent upstream"
	case ActionAllow:
		return "connection allowed"
	}
	return "connection event"
}

// skipper is implemented by encoders that leave some events out of their
// stream on purpose (squid logs a tunnel once, when it ends). A skipped
// event is not a dropped one: it is neither written nor counted as lost.
type skipper interface {
	Skips(e *Event) bool
}
