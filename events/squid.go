package events

import (
	"strconv"
	"time"
)

// SquidEncoder writes Squid's native access.log line, so that Squid log
// parsers and dashboards keep working:
//
//	1764504000.123   5230 10.0.0.5 TCP_TUNNEL/200 52211 CONNECT courier.push.apple.com:5223 - HIER_DIRECT/17.57.146.20 -
//
// time (s.ms), elapsed ms, client, result/status, bytes to the client,
// method, URL, user, hierarchy/peer, content type. Like Squid it logs a flow
// once, when it ends: the decision event of an established tunnel or request
// is skipped (Skips), and its end event becomes TCP_TUNNEL/200 (CONNECT) or
// TCP_MISS/<status> (plain HTTP). A refusal has no end event and is logged
// when it is decided, as TCP_DENIED/<status, 403 by default>; an allowed flow
// that was never established as NONE_NONE/<status, 502 by default>
// (CONNECT) or TCP_MISS/<status> (plain HTTP). The hierarchy is
// HIER_DIRECT/<address dialled>, FIRSTUP_PARENT/<upstream>, or HIER_NONE/-.
//
// Fields are separated by spaces, so every byte a client controls that is a
// space, a control character or not ASCII is percent-encoded. An aggregated
// denial is one line (the count is in the json, cef and leef formats);
// reports of dropped events are not written, Squid has no line for them.
type SquidEncoder struct{}

// Skips implements skipper: decision events of flows an end event will log.
func (SquidEncoder) Skips(e *Event) bool {
	switch e.Action {
	case ActionDropped:
		return true
	case ActionSplice, ActionUpstream, ActionAllow:
		return e.State() == StateEstablished
	}
	return false
}

// AppendEvent implements Encoder.
func (s SquidEncoder) AppendEvent(dst []byte, e *Event) []byte {
	t := eventTime(e)
	dst = strconv.AppendInt(dst, t.Unix(), 10)
	dst = append(dst, '.')
	dst = appendDigits(dst, t.Nanosecond()/int(time.Millisecond), 3)
	dst = append(dst, ' ')
	var num [20]byte
	ms := strconv.AppendInt(num[:0], e.Duration.Milliseconds(), 10)
	for i := len(ms); i < 6; i++ {
		dst = append(dst, ' ')
	}
	dst = append(dst, ms...)
	dst = append(dst, ' ')
	if e.SourceIP.IsValid() {
		dst = appendAddr(dst, e.SourceIP)
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, ' ')

	plain := e.Method != "" && e.Method != "CONNECT"
	result, status := squidResult(e, plain)
	dst = append(dst, result...)
	dst = append(dst, '/')
	dst = appendDigits(dst, status%1000, 3)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, e.DestBytes, 10)
	dst = append(dst, ' ')
	if plain {
		dst = appendSquidField(dst, e.Method)
	} else {
		dst = append(dst, "CONNECT"...)
	}
	dst = append(dst, ' ')
	dst = appendSquidURL(dst, e, plain)
	dst = append(dst, " - "...)
	dst = appendSquidHierarchy(dst, e)
	return append(dst, " -\n"...)
}

// squidResult is Squid's result code and HTTP status for the event.
func squidResult(e *Event, plain bool) (string, int) {
	status := e.StatusCode
	or := func(def int) int {
		if status != 0 {
			return status
		}
		return def
	}
	switch e.State() {
	case StateRefused:
		return "TCP_DENIED", or(403)
	case StateNotEstablished:
		if plain {
			return "TCP_MISS", or(502)
		}
		return "NONE_NONE", or(502)
	}
	if plain {
		return "TCP_MISS", or(200)
	}
	return "TCP_TUNNEL", 200
}

// appendSquidURL appends the URL field: the request URL for plain HTTP,
// host:port for a tunnel.
func appendSquidURL(dst []byte, e *Event, plain bool) []byte {
	if plain && e.URL != "" {
		return appendSquidField(dst, e.URL)
	}
	domain, raw := e.Domain()
	switch {
	case domain != "":
		dst = append(dst, domain...)
	case e.DestIP.IsValid():
		if a := e.DestIP.Unmap(); a.Is6() {
			dst = append(dst, '[')
			dst = appendAddr(dst, a)
			dst = append(dst, ']')
		} else {
			dst = appendAddr(dst, a)
		}
	case raw != "":
		return appendSquidField(dst, raw)
	default:
		return append(dst, '-')
	}
	if e.DestPort != 0 {
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(e.DestPort), 10)
	}
	return dst
}

// appendSquidHierarchy appends hierarchy/peer.
func appendSquidHierarchy(dst []byte, e *Event) []byte {
	st := e.State()
	switch {
	case st == StateRefused || st == StateNotEstablished:
		return append(dst, "HIER_NONE/-"...)
	case e.Upstream != "" || e.Action == ActionUpstream:
		dst = append(dst, "FIRSTUP_PARENT/"...)
		if e.Upstream == "" {
			return append(dst, '-')
		}
		return appendSquidField(dst, e.Upstream)
	case e.DestIP.IsValid():
		dst = append(dst, "HIER_DIRECT/"...)
		return appendAddr(dst, e.DestIP)
	}
	return append(dst, "HIER_DIRECT/-"...)
}

// appendSquidField appends s with every space, control byte, non-ASCII byte
// and '%' percent-encoded (cut to maxTextValue first), so that it stays one
// field of the line; an empty s is "-".
func appendSquidField(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	const hex = "0123456789ABCDEF"
	s = cutUTF8(s, maxTextValue)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '%' && !isPercentEscape(s[i:]) {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// isPercentEscape reports whether s starts with a %XX escape, which is kept
// as it is (a URL's own escapes); a lone '%' is encoded, so that decoding
// the field gives back the text.
func isPercentEscape(s string) bool {
	return len(s) >= 3 && isHex(s[1]) && isHex(s[2])
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
