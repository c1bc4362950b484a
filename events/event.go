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
	// ActionDropped: an output's report, once it writes again, of how many
	// events it lost (Dropped) while its collector was away or its queue full.
	ActionDropped Action = "dropped"
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

	// StatusCode is the HTTP status the client was answered with:
	// http.response.status_code. Plain HTTP requests carry the origin's (or
	// the upstream's) status; CONNECT refusals the proxy's own (403, 502,
	// 504). 0 leaves it out.
	StatusCode int

	// RawTarget is the client's target text when it could not be parsed
	// into a name or an address (mdmproxy.target.raw), cut to a bounded
	// length by the caller. destination.domain never holds such text: a
	// DestDomain that is not a normalised name is written here instead.
	RawTarget string

	// EnforceAction and EnforceReason are set in report mode when enforce
	// would have decided otherwise (mdmproxy.enforce.action, .reason):
	// Action then says what was done (the flow was let through), these
	// what enforce would have done.
	EnforceAction Action
	EnforceReason string

	// Balancer is the peer that sent a trusted PROXY protocol header, the
	// load balancer (mdmproxy.balancer.ip, .port); SourceIP and SourcePort
	// are then the client the header named.
	Balancer netip.AddrPort

	// Intercepted marks a flow taken by the transparent listener rather
	// than asked for with CONNECT or a proxy request (mdmproxy.intercepted).
	Intercepted bool

	// ECH marks a ClientHello that carried the Encrypted Client Hello
	// extension (mdmproxy.ech): SNI is then its outer name, and the server
	// the client reaches may be another name behind the same provider.
	ECH bool

	// Upstream is the upstream proxy the flow was handed to, HOST:PORT,
	// never with credentials (mdmproxy.upstream).
	Upstream string

	// Count, FirstTime and LastTime describe an aggregated denial: Count
	// identical denials (same client, target and reason) between FirstTime
	// and LastTime (mdmproxy.aggregate.count, .first, .last). The logger
	// sets them when log.aggregate is on; Count 0 or 1 is a single event.
	Count     int
	FirstTime time.Time
	LastTime  time.Time

	// Dropped is set on the report an output writes when it is back after
	// losing events (ActionDropped): how many it lost (mdmproxy.dropped).
	Dropped uint64
}

// Connection states (mdmproxy.state): one field whose single value tells an
// established flow from one that was allowed but never established.
const (
	// StateEstablished: allowed, and the tunnel is open or the request was
	// forwarded.
	StateEstablished = "established"
	// StateNotEstablished: allowed by the policy, but resolving or dialling
	// the destination (or the upstream) failed; nothing was carried.
	StateNotEstablished = "not_established"
	// StateRefused: denied.
	StateRefused = "refused"
	// StateEnded: the end event of an established flow.
	StateEnded = "ended"
	// StateReport: not about a flow; an output's report of lost events.
	StateReport = "report"
)

// State is mdmproxy.state, derived from the action and the outcome: an
// allowing action (splice, upstream, allow) with outcome failure is a flow
// that was allowed but never established; with any other outcome it is
// established.
func (e *Event) State() string {
	switch e.Action {
	case ActionDeny:
		return StateRefused
	case ActionEnd:
		return StateEnded
	case ActionDropped:
		return StateReport
	}
	if e.outcome() == OutcomeFailure {
		return StateNotEstablished
	}
	return StateEstablished
}

// Domain returns destination.domain and mdmproxy.target.raw as they are
// written: DestDomain when it is a normalised name (lower-case letters,
// digits, hyphens, underscores and dots, at most 253 bytes, no empty
// label), otherwise "" and the text as a raw target. RawTarget, when set,
// wins over a rejected DestDomain. The check makes the field's promise hold
// whatever a caller puts in DestDomain, so a SIEM rule keyed on it cannot be
// fooled by a hostile CONNECT line.
func (e *Event) Domain() (domain, raw string) {
	if e.DestDomain == "" || isNormalName(e.DestDomain) {
		return e.DestDomain, e.RawTarget
	}
	if e.RawTarget != "" {
		return "", e.RawTarget
	}
	return "", e.DestDomain
}

// isNormalName reports whether s looks like a normalised DNS name.
func isNormalName(s string) bool {
	if len(s) > 253 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	prev := byte('.')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.':
			if prev == '.' {
				return false
			}
		default:
			return false
		}
		prev = c
	}
	return true
}

// aggregated reports whether e stands for more than one denial.
func (e *Event) aggregated() bool { return e.Count > 1 }

// Level of an event: warn for denials and for connections that failed (an allowed tunnel that
// could not be dialled, a tunnel that ended in a reset), info otherwise. Outputs filter on it.
func (e *Event) Level() Level {
	if e.Action == ActionDeny || e.Action == ActionDropped || e.Outcome == OutcomeFailure {
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
	return typeInfo // ActionDropped
}

// category is ECS event.category: plain HTTP requests are web traffic too.
func (e *Event) category() []string {
	if e.Method != "" {
		return categoryNetworkWeb
	}
	return categoryNetwork
}
