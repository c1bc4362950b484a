package events

import (
	"net/netip"
	"time"
)

// Action is what happened to a connection: one of the four decisions of the
// policy, or the end of a tunnel or request. It is ECS event.action.
type Action string

const (
	// ActionSplice: a rule allowed the connection; raw tunnel.
	ActionSplice Action = "splice"
	// ActionUpstream: handed to the upstream proxy (default_action: upstream).
	ActionUpstream Action = "upstream"
	// ActionAllow: allowed by default_action: allow.
	ActionAllow Action = "allow"
	// ActionDeny: refused.
	ActionDeny Action = "deny"
	// ActionEnd: a tunnel or request ended; carries duration and byte counts.
	ActionEnd Action = "end"
)

// ECS event.outcome values.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeUnknown = "unknown"
)

// Event is one decision or end event. Zero-valued fields are left out of the
// record, except the byte counts and duration of end events, which a SIEM
// sums and therefore needs even when they are 0.
//
// Emit does not keep the Event: the caller may reuse it once Emit returns.
type Event struct {
	// Time is when the decision was made or the connection ended; zero means
	// "now" at encoding time.
	Time   time.Time
	Action Action
	// Outcome is ECS event.outcome. Empty means the usual one for the action:
	// "failure" for deny, "success" otherwise.
	Outcome string
	// Reason says why: a machine-friendly token ("no_rule", "sni_mismatch")
	// optionally followed by detail.
	Reason string
	// Duration is the life of the connection (end events); event.duration in ns.
	Duration time.Duration

	SourceIP   netip.Addr
	SourcePort uint16

	DestDomain string
	DestIP     netip.Addr
	DestPort   uint16

	SNI    string // tls.client.server_name
	Rule   string // rule.name
	URL    string // url.original, plain HTTP
	Method string // http.request.method, plain HTTP

	// On end events: SourceBytes is what the client sent (source.bytes),
	// DestBytes what the destination sent (destination.bytes).
	SourceBytes int64
	DestBytes   int64
}

// Level of an event: warn for denials and for connections that failed (an allowed tunnel that
// could not be dialled, a tunnel that ended in a reset), info otherwise. Outputs filter on it.
func (e *Event) Level() Level {
	if e.Action == ActionDeny || e.Outcome == OutcomeFailure {
		return LevelWarn
	}
	return LevelInfo
}

// outcome is e.Outcome, or the usual outcome for the action when unset.
func (e *Event) outcome() string {
	if e.Outcome != "" {
		return e.Outcome
	}
	switch e.Action {
	case ActionDeny:
		return OutcomeFailure
	case ActionSplice, ActionUpstream, ActionAllow, ActionEnd:
		return OutcomeSuccess
	}
	return OutcomeUnknown
}

// eventType is ECS event.type for the action.
func (e *Event) eventType() []string {
	switch e.Action {
	case ActionDeny:
		return typeDenied
	case ActionSplice, ActionUpstream, ActionAllow:
		return typeAllowed
	case ActionEnd:
		return typeEnd
	}
	return typeInfo
}

// category is ECS event.category: plain HTTP requests are web traffic too.
func (e *Event) category() []string {
	if e.Method != "" {
		return categoryNetworkWeb
	}
	return categoryNetwork
}
