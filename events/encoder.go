package events

import "fmt"

// Encoder turns an Event into one record. Implementations must be safe for
// concurrent use (Emit runs on the callers' goroutines) and should not
// allocate in steady state, because Emit is on the data path.
type Encoder interface {
	// AppendEvent appends e, encoded as one complete record including its
	// line terminator, to dst and returns the extended slice. An encoder
	// that leaves some events out of its stream on purpose also implements
	// Skips(*Event) bool; a skipped event is not counted as dropped.
	AppendEvent(dst []byte, e *Event) []byte
}

// Formats a configuration may name (log.outputs[].format).
const (
	FormatJSON  = "json"
	FormatCEF   = "cef"
	FormatLEEF  = "leef"
	FormatSquid = "squid"
)

// Observer is who writes the events: observer.name and observer.version.
type Observer struct {
	Name    string // host name
	Version string // mdmproxy's version
}

// NewEncoder returns the encoder for a configured format; "" means json.
// Adding a format is one case here.
func NewEncoder(format string, obs Observer) (Encoder, error) {
	switch format {
	case FormatJSON, "":
		return newJSONEncoder(obs), nil
	case FormatCEF:
		return NewCEFEncoder(obs), nil
	case FormatLEEF:
		return NewLEEFEncoder(obs), nil
	case FormatSquid:
		return SquidEncoder{}, nil
	}
	return nil, fmt.Errorf("unknown format %q (want json, cef, leef or squid)", format)
}
