package events

import (
	"time"
	"unicode/utf8"
)

// LEEFEncoder writes an Event as one IBM QRadar Log Event Extended Format
// (LEEF 2.0) line with a declared tab delimiter:
//
//	LEEF:2.0|mdmproxy|mdmproxy|VERSION|ACTION|x09|devTime=...<TAB>src=...<TAB>...
//
// Header fields escape '\' and '|' with a backslash. Attribute values escape
// '\' as \\, the delimiter (tab) as \t and line breaks as \n and \r; other
// control characters and invalid UTF-8 become U+FFFD and every value is cut
// to 1023 bytes, so no client-supplied text can end its attribute or the
// line. An attribute is split from its value at the first '=', so '=' in a
// value needs no escape. The attributes are listed in docs/siem.md.
type LEEFEncoder struct {
	header  []byte // "LEEF:2.0|mdmproxy|mdmproxy|VERSION|", escaped once
	devName string
}

// leefDelimiter is the attribute delimiter; the header declares it as x09.
const leefDelimiter = '\t'

// leefTimeFormat is devTimeFormat: the Java SimpleDateFormat QRadar parses
// devTime with.
const leefTimeFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSX"

// NewLEEFEncoder returns a LEEF encoder; obs.Version is the header's product
// version and obs.Name the devName attribute.
func NewLEEFEncoder(obs Observer) *LEEFEncoder {
	return &LEEFEncoder{header: textHeader("LEEF:2.0|", obs), devName: obs.Name}
}

// AppendEvent implements Encoder.
func (l *LEEFEncoder) AppendEvent(dst []byte, e *Event) []byte {
	dst = append(dst, l.header...)
	dst = appendCEFHeader(dst, string(e.Action)) // LEEF escapes its header as CEF does
	dst = append(dst, "|x09|"...)

	x := pairs{b: dst, sep: leefDelimiter, escape: appendLEEFValue}
	x.raw("devTime", appendLEEFTime(x.num[:0], eventTime(e)))
	x.str("devTimeFormat", leefTimeFormat)
	x.opt("devName", l.devName)
	x.str("cat", string(e.Action))
	x.int("sev", int64(severity(e)))
	x.str("outcome", e.outcome())
	x.str("state", e.State())
	x.opt("reason", e.Reason)
	rawTarget := x.flow(e, &leefFlowKeys)
	x.str("proto", "TCP")
	if e.Action == ActionEnd || e.Duration != 0 {
		x.int("durationMs", e.Duration.Milliseconds())
	}
	x.opt("rule", e.Rule)
	x.opt("sni", e.SNI)
	x.opt("method", e.Method)
	x.opt("url", e.URL)
	if e.StatusCode != 0 {
		x.int("httpStatus", int64(e.StatusCode))
	}
	x.opt("rawTarget", rawTarget)
	x.opt("enforceAction", string(e.EnforceAction))
	x.opt("enforceReason", e.EnforceReason)
	if e.Balancer.IsValid() {
		x.raw("balancer", appendAddrPort(x.num[:0], e.Balancer))
	}
	if e.Intercepted {
		x.str("intercepted", "true")
	}
	if e.ECH {
		x.str("ech", "true")
	}
	x.opt("upstream", e.Upstream)
	if e.aggregated() {
		x.int("count", int64(e.Count))
		if !e.FirstTime.IsZero() {
			x.raw("firstTime", appendLEEFTime(x.num[:0], e.FirstTime))
		}
		if !e.LastTime.IsZero() {
			x.raw("lastTime", appendLEEFTime(x.num[:0], e.LastTime))
		}
	}
	if e.Dropped != 0 {
		x.int("dropped", int64(e.Dropped))
	}
	return append(x.b, '\n')
}

// appendLEEFTime appends t in UTC as devTimeFormat describes it.
func appendLEEFTime(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
}

// appendLEEFValue appends an attribute value: '\', tab and line breaks
// escaped, other control characters U+FFFD.
func appendLEEFValue(dst []byte, s string) []byte {
	return appendEscaped(dst, s, `\`, func(dst []byte, r rune) []byte {
		switch {
		case r == '\\':
			return append(dst, '\\', '\\')
		case r == leefDelimiter:
			return append(dst, '\\', 't')
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
