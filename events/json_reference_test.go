package events

import (
	"bytes"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// referenceJSONEncoder is the zerolog-based JSON encoder that JSONEncoder
// replaced, kept verbatim (but for names) as the reference the direct
// appender must match byte for byte: see TestJSONMatchesReference and
// FuzzJSONMatchesReference.
type referenceJSONEncoder struct {
	// observerJSON and the other pre-encoded objects below are the parts
	// of a record that never change: writing them as raw JSON saves a
	// pooled zerolog dictionary each, a third of the encoding time.
	observerJSON []byte
	// scratch holds zerolog loggers bound to a reusable buffer, so that
	// encoding allocates nothing once the pool is warm.
	scratch sync.Pool
}

// refScratch is a zerolog logger that writes into buf. zerolog hands the
// finished record to Write; copying it into buf is the only copy made.
type refScratch struct {
	buf []byte
	zl  zerolog.Logger
}

func (s *refScratch) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	return len(p), nil
}

// WriteLevel makes refScratch a zerolog.LevelWriter, so zerolog.New uses it
// directly instead of wrapping it in an adapter.
func (s *refScratch) WriteLevel(_ zerolog.Level, p []byte) (int, error) {
	return s.Write(p)
}

func newReferenceJSONEncoder(obs Observer) *referenceJSONEncoder {
	j := &referenceJSONEncoder{observerJSON: refEncodeObserver(obs)}
	j.scratch.New = func() any {
		s := &refScratch{}
		s.zl = zerolog.New(s)
		return s
	}
	return j
}

// AppendEvent is the old JSONEncoder.AppendEvent.
func (j *referenceJSONEncoder) AppendEvent(dst []byte, e *Event) []byte {
	s := j.scratch.Get().(*refScratch)
	s.buf = dst
	j.encode(&s.zl, e)
	dst = s.buf
	s.buf = nil // don't keep the caller's buffer alive in the pool
	j.scratch.Put(s)
	return dst
}

func (j *referenceJSONEncoder) encode(zl *zerolog.Logger, e *Event) {
	// Log() adds no level field: log.level below is ours.
	ev := zl.Log()
	if ev == nil {
		return // zerolog is globally disabled
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	// A stack buffer for the quoted texts that zerolog would otherwise
	// format through an allocation (time.Format, netip.Addr.String).
	var scratch [64]byte

	ev.RawJSON(FieldTimestamp, appendQuotedTime(scratch[:0], t))
	ev.RawJSON(keyECS, refECSJSON)
	ev.RawJSON(keyLog, refLogLevelJSON(e.Level()))

	isEnd := e.Action == ActionEnd
	d := ev.CreateDict().
		Str(keyKind, EventKind).
		Strs(keyCategory, e.category()).
		Strs(keyType, e.eventType()).
		Str(keyAction, string(e.Action)).
		Str(keyOutcome, e.outcome())
	if e.Reason != "" {
		d.Str(keyReason, e.Reason)
	}
	if isEnd || e.Duration != 0 {
		d.Int64(keyDuration, int64(e.Duration))
	}
	ev.Dict(keyEvent, d)

	// Byte counts are always written on end events (0 bytes is a fact a
	// SIEM sums), and on other events only when someone set them.
	srcBytes := isEnd || e.SourceBytes != 0
	if e.SourceIP.IsValid() || e.SourcePort != 0 || srcBytes {
		d := ev.CreateDict()
		if e.SourceIP.IsValid() {
			d.RawJSON(keyIP, appendQuotedAddr(scratch[:0], e.SourceIP))
		}
		if e.SourcePort != 0 {
			d.Uint16(keyPort, e.SourcePort)
		}
		if srcBytes {
			d.Int64(keyBytes, e.SourceBytes)
		}
		ev.Dict(keySource, d)
	}

	domain, rawTarget := e.Domain()
	dstBytes := isEnd || e.DestBytes != 0
	if domain != "" || e.DestIP.IsValid() || e.DestPort != 0 || dstBytes {
		d := ev.CreateDict()
		if domain != "" {
			d.Str(keyDomain, domain)
		}
		if e.DestIP.IsValid() {
			d.RawJSON(keyIP, appendQuotedAddr(scratch[:0], e.DestIP))
		}
		if e.DestPort != 0 {
			d.Uint16(keyPort, e.DestPort)
		}
		if dstBytes {
			d.Int64(keyBytes, e.DestBytes)
		}
		ev.Dict(keyDestination, d)
	}

	if e.SNI != "" {
		ev.Dict(keyTLS, ev.CreateDict().Dict(keyClient, ev.CreateDict().Str(keyServerName, e.SNI)))
	}
	if e.Rule != "" {
		ev.Dict(keyRule, ev.CreateDict().Str(keyName, e.Rule))
	}
	if e.URL != "" {
		ev.Dict(keyURL, ev.CreateDict().Str(keyOriginal, e.URL))
	}
	if e.Method != "" || e.StatusCode != 0 {
		d := ev.CreateDict()
		if e.Method != "" {
			d.Dict(keyRequest, ev.CreateDict().Str(keyMethod, e.Method))
		}
		if e.StatusCode != 0 {
			d.Dict(keyResponse, ev.CreateDict().Int(keyStatusCode, e.StatusCode))
		}
		ev.Dict(keyHTTP, d)
	}

	ev.RawJSON(keyObserver, j.observerJSON)
	j.encodeMdmproxy(ev, e, rawTarget, scratch[:0])
	ev.Send()
}

// encodeMdmproxy writes the mdmproxy object: the fields ECS has no name for.
// mdmproxy.state is on every event, so one filter tells an established flow
// from one that was allowed but never established.
func (j *referenceJSONEncoder) encodeMdmproxy(ev *zerolog.Event, e *Event, rawTarget string, scratch []byte) {
	d := ev.CreateDict().Str(keyState, e.State())
	if rawTarget != "" {
		d.Dict(keyTarget, ev.CreateDict().Str(keyRaw, rawTarget))
	}
	if e.EnforceAction != "" || e.EnforceReason != "" {
		en := ev.CreateDict()
		if e.EnforceAction != "" {
			en.Str(keyAction, string(e.EnforceAction))
		}
		if e.EnforceReason != "" {
			en.Str(keyReason, e.EnforceReason)
		}
		d.Dict(keyEnforce, en)
	}
	if e.Balancer.IsValid() {
		d.Dict(keyBalancer, ev.CreateDict().
			RawJSON(keyIP, appendQuotedAddr(scratch[:0], e.Balancer.Addr())).
			Uint16(keyPort, e.Balancer.Port()))
	}
	if e.Intercepted {
		d.Bool(keyIntercepted, true)
	}
	if e.ECH {
		d.Bool(keyECH, true)
	}
	if e.Upstream != "" {
		d.Str(keyUpstream, e.Upstream)
	}
	if e.aggregated() {
		a := ev.CreateDict().Int(keyCount, e.Count)
		if !e.FirstTime.IsZero() {
			a.RawJSON(keyFirst, appendQuotedTime(scratch[:0], e.FirstTime))
		}
		if !e.LastTime.IsZero() {
			a.RawJSON(keyLast, appendQuotedTime(scratch[:0], e.LastTime))
		}
		d.Dict(keyAggregate, a)
	}
	if e.Dropped != 0 {
		d.Uint64(keyDropped, e.Dropped)
	}
	ev.Dict(keyMdmproxy, d)
}

// Pre-encoded constant objects; see referenceJSONEncoder.observerJSON.
var (
	refECSJSON      = refEncodeObject(func(d *zerolog.Event) { d.Str(keyVersion, ECSVersion) })
	refLogLevelJSON = func() func(Level) []byte {
		var byLevel [LevelError + 1][]byte
		for l := LevelDebug; l <= LevelError; l++ {
			byLevel[l] = refEncodeObject(func(d *zerolog.Event) { d.Str(keyLevel, levelName(l)) })
		}
		return func(l Level) []byte {
			if l < LevelDebug || l > LevelError {
				l = LevelInfo
			}
			return byLevel[l]
		}
	}()
)

// refEncodeObserver pre-encodes the observer object.
func refEncodeObserver(obs Observer) []byte {
	return refEncodeObject(func(d *zerolog.Event) {
		if obs.Name != "" {
			d.Str(keyName, obs.Name)
		}
		d.Str(keyProduct, ObserverProduct).Str(keyVendor, ObserverVendor).Str(keyType, ObserverType)
		if obs.Version != "" {
			d.Str(keyVersion, obs.Version)
		}
	})
}

// refEncodeObject encodes the fields fill adds as one JSON object, with
// zerolog's escaping. Used once per constant, not per event.
func refEncodeObject(fill func(*zerolog.Event)) []byte {
	var s refScratch
	zl := zerolog.New(&s)
	ev := zl.Log()
	if ev == nil {
		// zerolog globally disabled at start-up; the encoder writes
		// nothing then anyway.
		return []byte("{}")
	}
	fill(ev)
	ev.Send()
	return bytes.TrimSuffix(s.buf, []byte("\n"))
}
