package events

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// JSONEncoder writes an Event as one line of JSON with nested Elastic Common
// Schema field names. The zero value works (an observer without a name).
//
// It appends the record directly into the caller's buffer: the records
// have a fixed shape, and building them through zerolog's pooled
// dictionaries (one pool round trip per nested object) cost twice the time
// in a warm benchmark and more in place, on the tunnel set-up path (issue
// #17). The output is
// byte-for-byte what the zerolog-based encoder wrote, string escaping
// included (appendJSONString); TestJSONMatchesReference and
// FuzzJSONMatchesReference hold it to that.
//
// It reads one zerolog global, on purpose: a program that sets
// zerolog.SetGlobalLevel(zerolog.Disabled) silences this encoder too (it
// then appends nothing and Emit counts the event as dropped), as it did
// when zerolog wrote the records. zerolog's other globals (field names,
// time format, level values) never change the records.
type JSONEncoder struct {
	// observer is the observer object, the one part of a record that is
	// set per encoder and then never changes, so it is encoded once.
	// nil (the zero JSONEncoder) means an observer without name or
	// version.
	observer []byte
}

// NewJSONEncoder returns a JSON encoder that names observer as observer.name
// (omitted when empty).
func NewJSONEncoder(observer string) *JSONEncoder {
	return newJSONEncoder(Observer{Name: observer})
}

func newJSONEncoder(obs Observer) *JSONEncoder {
	return &JSONEncoder{observer: appendObserver(nil, obs)}
}

// timestampLayout is RFC 3339 with exactly nine fractional digits: a fixed
// width keeps the records sortable as text and never loses the nanoseconds
// the SIEM orders events by.
const timestampLayout = "2006-01-02T15:04:05.000000000Z07:00"

// AppendEvent implements Encoder. It allocates nothing beyond growing dst.
func (j *JSONEncoder) AppendEvent(dst []byte, e *Event) []byte {
	// zerolog's Logger.Log, which the old encoder used, was refused
	// only by a global level above NoLevel, that is Disabled.
	if zerolog.GlobalLevel() >= zerolog.Disabled {
		return dst
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	dst = append(dst, '{')
	dst = appendJSONKey(dst, FieldTimestamp)
	dst = appendQuotedTime(dst, t)
	dst = appendJSONOpen(dst, keyECS)
	dst = appendJSONStr(dst, keyVersion, ECSVersion)
	dst = append(dst, '}')
	dst = appendJSONOpen(dst, keyLog)
	dst = appendJSONStr(dst, keyLevel, levelName(e.Level()))
	dst = append(dst, '}')

	isEnd := e.Action == ActionEnd
	dst = appendJSONOpen(dst, keyEvent)
	dst = appendJSONStr(dst, keyKind, EventKind)
	dst = appendJSONStrs(dst, keyCategory, e.category())
	dst = appendJSONStrs(dst, keyType, e.eventType())
	dst = appendJSONStr(dst, keyAction, string(e.Action))
	dst = appendJSONStr(dst, keyOutcome, e.outcome())
	if e.Reason != "" {
		dst = appendJSONStr(dst, keyReason, e.Reason)
	}
	if isEnd || e.Duration != 0 {
		dst = appendJSONInt(dst, keyDuration, int64(e.Duration))
	}
	dst = append(dst, '}')

	// Byte counts are always written on end events (0 bytes is a fact a
	// SIEM sums), and on other events only when someone set them.
	srcBytes := isEnd || e.SourceBytes != 0
	if e.SourceIP.IsValid() || e.SourcePort != 0 || srcBytes {
		dst = appendJSONOpen(dst, keySource)
		if e.SourceIP.IsValid() {
			dst = appendJSONAddr(dst, keyIP, e.SourceIP)
		}
		if e.SourcePort != 0 {
			dst = appendJSONUint(dst, keyPort, uint64(e.SourcePort))
		}
		if srcBytes {
			dst = appendJSONInt(dst, keyBytes, e.SourceBytes)
		}
		dst = append(dst, '}')
	}

	domain, rawTarget := e.Domain()
	dstBytes := isEnd || e.DestBytes != 0
	if domain != "" || e.DestIP.IsValid() || e.DestPort != 0 || dstBytes {
		dst = appendJSONOpen(dst, keyDestination)
		if domain != "" {
			dst = appendJSONStr(dst, keyDomain, domain)
		}
		if e.DestIP.IsValid() {
			dst = appendJSONAddr(dst, keyIP, e.DestIP)
		}
		if e.DestPort != 0 {
			dst = appendJSONUint(dst, keyPort, uint64(e.DestPort))
		}
		if dstBytes {
			dst = appendJSONInt(dst, keyBytes, e.DestBytes)
		}
		dst = append(dst, '}')
	}

	if e.SNI != "" {
		dst = appendJSONOpen(dst, keyTLS)
		dst = appendJSONOpen(dst, keyClient)
		dst = appendJSONStr(dst, keyServerName, e.SNI)
		dst = append(dst, '}')
		dst = append(dst, '}')
	}
	if e.Rule != "" {
		dst = appendJSONOpen(dst, keyRule)
		dst = appendJSONStr(dst, keyName, e.Rule)
		dst = append(dst, '}')
	}
	if e.URL != "" {
		dst = appendJSONOpen(dst, keyURL)
		dst = appendJSONStr(dst, keyOriginal, e.URL)
		dst = append(dst, '}')
	}
	if e.Method != "" || e.StatusCode != 0 {
		dst = appendJSONOpen(dst, keyHTTP)
		if e.Method != "" {
			dst = appendJSONOpen(dst, keyRequest)
			dst = appendJSONStr(dst, keyMethod, e.Method)
			dst = append(dst, '}')
		}
		if e.StatusCode != 0 {
			dst = appendJSONOpen(dst, keyResponse)
			dst = appendJSONInt(dst, keyStatusCode, int64(e.StatusCode))
			dst = append(dst, '}')
		}
		dst = append(dst, '}')
	}

	dst = appendJSONKey(dst, keyObserver)
	if j.observer != nil {
		dst = append(dst, j.observer...)
	} else {
		dst = appendObserver(dst, Observer{})
	}
	dst = appendMdmproxy(dst, e, rawTarget)
	return append(dst, '}', '\n')
}

// appendMdmproxy appends the mdmproxy object: the fields ECS has no name for.
// mdmproxy.state is on every event, so one filter tells an established flow
// from one that was allowed but never established.
func appendMdmproxy(dst []byte, e *Event, rawTarget string) []byte {
	dst = appendJSONOpen(dst, keyMdmproxy)
	dst = appendJSONStr(dst, keyState, e.State())
	if rawTarget != "" {
		dst = appendJSONOpen(dst, keyTarget)
		dst = appendJSONStr(dst, keyRaw, rawTarget)
		dst = append(dst, '}')
	}
	if e.EnforceAction != "" || e.EnforceReason != "" {
		dst = appendJSONOpen(dst, keyEnforce)
		if e.EnforceAction != "" {
			dst = appendJSONStr(dst, keyAction, string(e.EnforceAction))
		}
		if e.EnforceReason != "" {
			dst = appendJSONStr(dst, keyReason, e.EnforceReason)
		}
		dst = append(dst, '}')
	}
	if e.Balancer.IsValid() {
		dst = appendJSONOpen(dst, keyBalancer)
		dst = appendJSONAddr(dst, keyIP, e.Balancer.Addr())
		dst = appendJSONUint(dst, keyPort, uint64(e.Balancer.Port()))
		dst = append(dst, '}')
	}
	if e.Intercepted {
		dst = appendJSONKey(dst, keyIntercepted)
		dst = append(dst, "true"...)
	}
	if e.ECH {
		dst = appendJSONKey(dst, keyECH)
		dst = append(dst, "true"...)
	}
	if e.Upstream != "" {
		dst = appendJSONStr(dst, keyUpstream, e.Upstream)
	}
	if e.aggregated() {
		dst = appendJSONOpen(dst, keyAggregate)
		dst = appendJSONInt(dst, keyCount, int64(e.Count))
		if !e.FirstTime.IsZero() {
			dst = appendJSONKey(dst, keyFirst)
			dst = appendQuotedTime(dst, e.FirstTime)
		}
		if !e.LastTime.IsZero() {
			dst = appendJSONKey(dst, keyLast)
			dst = appendQuotedTime(dst, e.LastTime)
		}
		dst = append(dst, '}')
	}
	if e.Dropped != 0 {
		dst = appendJSONUint(dst, keyDropped, e.Dropped)
	}
	return append(dst, '}')
}

// appendObserver appends the observer object.
func appendObserver(dst []byte, obs Observer) []byte {
	dst = append(dst, '{')
	if obs.Name != "" {
		dst = appendJSONStr(dst, keyName, obs.Name)
	}
	dst = appendJSONStr(dst, keyProduct, ObserverProduct)
	dst = appendJSONStr(dst, keyVendor, ObserverVendor)
	dst = appendJSONStr(dst, keyType, ObserverType)
	if obs.Version != "" {
		dst = appendJSONStr(dst, keyVersion, obs.Version)
	}
	return append(dst, '}')
}

// The append helpers below write one member of a JSON object each; they know
// nothing of events (AppendEvent says what goes where). They work on the
// caller's slice, not on a writer struct, so the slice stays in registers
// (a seventh less time than methods on a struct holding it).

// appendJSONKey starts a member: the comma that separates it from the one
// before (none right after an object's opening brace) and "key":. Keys are
// the constants of fields.go, which need no escaping.
func appendJSONKey(dst []byte, k string) []byte {
	if dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, k...)
	return append(dst, '"', ':')
}

// appendJSONOpen starts a member whose value is an object; the caller
// closes the object with a '}'.
func appendJSONOpen(dst []byte, k string) []byte {
	return append(appendJSONKey(dst, k), '{')
}

func appendJSONStr(dst []byte, k, v string) []byte {
	return appendJSONString(appendJSONKey(dst, k), v)
}

// appendJSONStrs writes a string array; an empty one as [].
func appendJSONStrs(dst []byte, k string, vs []string) []byte {
	dst = append(appendJSONKey(dst, k), '[')
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, v)
	}
	return append(dst, ']')
}

func appendJSONInt(dst []byte, k string, v int64) []byte {
	return strconv.AppendInt(appendJSONKey(dst, k), v, 10)
}

func appendJSONUint(dst []byte, k string, v uint64) []byte {
	return strconv.AppendUint(appendJSONKey(dst, k), v, 10)
}

func appendJSONAddr(dst []byte, k string, a netip.Addr) []byte {
	return appendQuotedAddr(appendJSONKey(dst, k), a)
}

// jsonPlain marks the bytes a JSON string carries as they are: printable
// ASCII but the quote and the backslash. DEL (0x7f) is not among them, and
// bytes from 0x80 up are checked as UTF-8 separately. A table of all 256
// bytes makes the common case one load and one branch.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a quoted JSON string, escaped exactly as
// zerolog escapes it, so that the records did not change when zerolog
// stopped writing them (a SIEM that deduplicates or hashes records would
// notice):
//   - '"' and '\\' get a backslash; \b \f \n \r \t their short escapes;
//   - the other control characters and DEL are \u00xx, lower-case hex;
//   - valid UTF-8 is copied as it is, U+2028 and U+2029 included;
//   - each byte of invalid UTF-8 becomes \ufffd, the replacement character.
//
// Runs of bytes that need nothing are copied in one append.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is waiting to be copied
	for i := 0; i < len(s); {
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size // valid, even an encoded U+FFFD: copied as is
				continue
			}
		}
		dst = append(dst, s[start:i]...)
		dst = appendEscape(dst, c)
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendEscape appends the escape for c, a byte appendJSONString does not
// copy: an ASCII control character, DEL, '"', '\\', or a byte of invalid
// UTF-8.
func appendEscape(dst []byte, c byte) []byte {
	const hex = "0123456789abcdef"
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	if c >= utf8.RuneSelf {
		return append(dst, `\ufffd`...)
	}
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
}

// appendQuotedTime appends t in UTC as a quoted RFC 3339 string with exactly
// nine fractional digits. It is written out by hand because
// time.AppendFormat, which interprets its layout on every call, was a fifth
// of the encoding time; TestAppendQuotedTime checks the two agree.
func appendQuotedTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, timestampLayout)
		return append(dst, '"')
	}
	hour, minute, sec := t.Clock()
	dst = append(dst, '"')
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec, 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, t.Nanosecond(), 9)
	return append(dst, 'Z', '"')
}

// appendDigits appends the width lowest decimal digits of v (v >= 0),
// zero-padded.
func appendDigits(dst []byte, v, width int) []byte {
	start := len(dst)
	for range width {
		dst = append(dst, '0')
	}
	for i := len(dst) - 1; i >= start; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
	return dst
}

// appendQuotedAddr appends a as a quoted string. IPv4-mapped IPv6 addresses
// are written as IPv4 and zones are dropped: Elastic's ip type rejects
// zones, and a client must look the same whichever socket family saw it.
// An address's text never needs JSON escaping.
func appendQuotedAddr(dst []byte, a netip.Addr) []byte {
	dst = append(dst, '"')
	dst = a.Unmap().WithZone("").AppendTo(dst)
	return append(dst, '"')
}
