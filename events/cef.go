package events

import (
	"strconv"
	"unicode/utf8"
)

// CEFEncoder writes an Event as one ArcSight Common Event Format (CEF:0)
// line:
//
//	CEF:0|mdmproxy|mdmproxy|VERSION|ACTION|NAME|SEVERITY|rt=... src=... act=deny ...
//
// Header fields escape '\' and '|' with a backslash; extension values escape
// '\' and '=' and write line breaks as \n and \r, as the CEF specification
// says. Other control characters and invalid UTF-8 become U+FFFD, and every
// value is cut to 1023 bytes, so no client-supplied text (an SNI, a host, a
// URL) can end its field, start a key of its own, or end the line. The keys
// are listed in docs/siem.md.
type CEFEncoder struct {
	header   []byte // "CEF:0|mdmproxy|mdmproxy|VERSION|", escaped once
	observer string
}

// NewCEFEncoder returns a CEF encoder; obs.Version is the header's Device
// Version and obs.Name is written as dvchost.
func NewCEFEncoder(obs Observer) *CEFEncoder {
	return &CEFEncoder{header: textHeader("CEF:0|", obs), observer: obs.Name}
}

// textHeader is the fixed start of a CEF or LEEF header: prefix, then vendor,
// product and version, each escaped and followed by '|'. The two formats
// escape their headers alike.
func textHeader(prefix string, obs Observer) []byte {
	v := obs.Version
	if v == "" {
		v = "unknown"
	}
	h := []byte(prefix)
	for _, f := range []string{ObserverVendor, ObserverProduct, v} {
		h = appendCEFHeader(h, f)
		h = append(h, '|')
	}
	return h
}

// CEF extension keys: the standard ones, and the custom string and number
// slots with the labels docs/siem.md lists.
const (
	cefLabelRule          = "rule"
	cefLabelSNI           = "sni"
	cefLabelState         = "state"
	cefLabelEnforceAction = "enforceAction"
	cefLabelRawTarget     = "rawTarget"
	cefLabelUpstream      = "upstream"
	cefLabelEnforceReason = "enforceReason"
	cefLabelBalancer      = "balancer"
	cefLabelCount         = "count"
	cefLabelDropped       = "dropped"
	cefLabelDuration      = "durationMs"
	cefLabelStatus        = "httpStatus"
)

// AppendEvent implements Encoder.
func (c *CEFEncoder) AppendEvent(dst []byte, e *Event) []byte {
	dst = append(dst, c.header...)
	dst = appendCEFHeader(dst, string(e.Action))
	dst = append(dst, '|')
	dst = appendCEFHeader(dst, eventName(e))
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, int64(severity(e)), 10)
	dst = append(dst, '|')

	x := cefExt{b: dst}
	x.raw("rt", appendMillis(x.num[:0], eventTime(e)))
	if c.observer != "" {
		x.str("dvchost", c.observer)
	}
	x.str("act", string(e.Action))
	x.str("outcome", e.outcome())
	if e.Reason != "" {
		x.str("reason", e.Reason)
	}
	if e.SourceIP.IsValid() {
		x.raw("src", appendAddr(x.num[:0], e.SourceIP))
	}
	if e.SourcePort != 0 {
		x.raw("spt", strconv.AppendUint(x.num[:0], uint64(e.SourcePort), 10))
	}
	domain, rawTarget := e.Domain()
	if domain != "" {
		x.str("dhost", domain)
	}
	if e.DestIP.IsValid() {
		x.raw("dst", appendAddr(x.num[:0], e.DestIP))
	}
	if e.DestPort != 0 {
		x.raw("dpt", strconv.AppendUint(x.num[:0], uint64(e.DestPort), 10))
	}
	if e.Action == ActionEnd || e.SourceBytes != 0 || e.DestBytes != 0 {
		x.raw("in", strconv.AppendInt(x.num[:0], e.SourceBytes, 10))
		x.raw("out", strconv.AppendInt(x.num[:0], e.DestBytes, 10))
	}
	if e.Method != "" {
		x.str("requestMethod", e.Method)
	}
	if e.URL != "" {
		x.str("request", e.URL)
	}
	cat := "proxy"
	if e.Intercepted {
		cat = "intercepted"
	}
	x.str("cat", cat)
	x.label("cs1", cefLabelRule, e.Rule)
	x.label("cs2", cefLabelSNI, e.SNI)
	x.label("cs3", cefLabelState, e.State())
	x.label("cs4", cefLabelEnforceAction, string(e.EnforceAction))
	x.label("cs5", cefLabelRawTarget, rawTarget)
	x.label("cs6", cefLabelUpstream, e.Upstream)
	x.label("flexString1", cefLabelEnforceReason, e.EnforceReason)
	if e.Balancer.IsValid() {
		x.label("flexString2", cefLabelBalancer, string(appendAddrPort(x.num[:0], e.Balancer)))
	}
	switch {
	case e.Dropped != 0:
		x.labelRaw("cn1", cefLabelDropped, strconv.AppendUint(x.num[:0], e.Dropped, 10))
	case e.aggregated():
		x.labelRaw("cn1", cefLabelCount, strconv.AppendInt(x.num[:0], int64(e.Count), 10))
		if !e.FirstTime.IsZero() {
			x.raw("start", appendMillis(x.num[:0], e.FirstTime))
		}
		if !e.LastTime.IsZero() {
			x.raw("end", appendMillis(x.num[:0], e.LastTime))
		}
	}
	if e.Action == ActionEnd || e.Duration != 0 {
		x.labelRaw("cn2", cefLabelDuration, strconv.AppendInt(x.num[:0], e.Duration.Milliseconds(), 10))
	}
	if e.StatusCode != 0 {
		x.labelRaw("cn3", cefLabelStatus, strconv.AppendInt(x.num[:0], int64(e.StatusCode), 10))
	}
	return append(x.b, '\n')
}

// cefExt appends extension pairs, a space between them.
type cefExt struct {
	b     []byte
	first bool
	num   [64]byte // scratch for numbers and addresses
}

func (x *cefExt) key(k string) {
	if x.first {
		x.b = append(x.b, ' ')
	}
	x.first = true
	x.b = append(x.b, k...)
	x.b = append(x.b, '=')
}

// str appends a key with an escaped value.
func (x *cefExt) str(k, v string) {
	x.key(k)
	x.b = appendCEFValue(x.b, v)
}

// raw appends a key with a value that needs no escaping (a number, an address).
func (x *cefExt) raw(k string, v []byte) {
	x.key(k)
	x.b = append(x.b, v...)
}

// label appends a custom key and its label when v is not empty.
func (x *cefExt) label(k, label, v string) {
	if v == "" {
		return
	}
	x.str(k+"Label", label)
	x.str(k, v)
}

func (x *cefExt) labelRaw(k, label string, v []byte) {
	x.str(k+"Label", label)
	x.raw(k, v)
}

// appendCEFHeader appends a header field: '\' and '|' escaped; line breaks
// and other control characters, which the header may not hold at all,
// become U+FFFD.
func appendCEFHeader(dst []byte, s string) []byte {
	return appendEscaped(dst, s, `\|`, func(dst []byte, r rune) []byte {
		switch {
		case r == '\\' || r == '|':
			return append(dst, '\\', byte(r))
		case isControl(r):
			return utf8.AppendRune(dst, utf8.RuneError)
		}
		return utf8.AppendRune(dst, r)
	})
}

// appendCEFValue appends an extension value: '\' and '=' escaped, CR and LF
// as \r and \n, other control characters U+FFFD.
func appendCEFValue(dst []byte, s string) []byte {
	return appendEscaped(dst, s, `\=`, func(dst []byte, r rune) []byte {
		switch {
		case r == '\\' || r == '=':
			return append(dst, '\\', byte(r))
		case r == '\n':
			return append(dst, '\\', 'n')
		case r == '\r':
			return append(dst, '\\', 'r')
		case isControl(r):
			return utf8.AppendRune(dst, utf8.RuneError)
		}
		return utf8.AppendRune(dst, r)
	})
}
