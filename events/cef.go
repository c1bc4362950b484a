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

	x := pairs{b: dst, sep: ' ', escape: appendCEFValue}
	x.raw("rt", appendMillis(x.num[:0], eventTime(e)))
	x.opt("dvchost", c.observer)
	x.str("act", string(e.Action))
	x.str("outcome", e.outcome())
	x.opt("reason", e.Reason)
	rawTarget := x.flow(e, &cefFlowKeys)
	x.opt("requestMethod", e.Method)
	x.opt("request", e.URL)
	cat := "proxy"
	if e.Intercepted {
		cat = "intercepted"
	}
	x.str("cat", cat)
	cefLabel(&x, "cs1", cefLabelRule, e.Rule)
	cefLabel(&x, "cs2", cefLabelSNI, e.SNI)
	cefLabel(&x, "cs3", cefLabelState, e.State())
	cefLabel(&x, "cs4", cefLabelEnforceAction, string(e.EnforceAction))
	cefLabel(&x, "cs5", cefLabelRawTarget, rawTarget)
	cefLabel(&x, "cs6", cefLabelUpstream, e.Upstream)
	cefLabel(&x, "flexString1", cefLabelEnforceReason, e.EnforceReason)
	if e.Balancer.IsValid() {
		x.str("flexString2Label", cefLabelBalancer)
		x.raw("flexString2", appendAddrPort(x.num[:0], e.Balancer))
	}
	switch {
	case e.Dropped != 0:
		cefNumber(&x, "cn1", cefLabelDropped, int64(e.Dropped))
	case e.aggregated():
		cefNumber(&x, "cn1", cefLabelCount, int64(e.Count))
		if !e.FirstTime.IsZero() {
			x.raw("start", appendMillis(x.num[:0], e.FirstTime))
		}
		if !e.LastTime.IsZero() {
			x.raw("end", appendMillis(x.num[:0], e.LastTime))
		}
	}
	if e.Action == ActionEnd || e.Duration != 0 {
		cefNumber(&x, "cn2", cefLabelDuration, e.Duration.Milliseconds())
	}
	if e.StatusCode != 0 {
		cefNumber(&x, "cn3", cefLabelStatus, int64(e.StatusCode))
	}
	return append(x.b, '\n')
}

// cefLabel appends a custom string key and its label when v is not empty.
func cefLabel(x *pairs, k, label, v string) {
	if v == "" {
		return
	}
	x.str(k+"Label", label)
	x.str(k, v)
}

// cefNumber appends a custom number key and its label.
func cefNumber(x *pairs, k, label string, v int64) {
	x.str(k+"Label", label)
	x.int(k, v)
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
