package allowlist

// Reason says why the policy decided what it did. Its String form is the event.reason token
// the SIEM sees.
type Reason uint8

const (
	// ReasonRule: a rule allows the target (and the SNI, when there is one).
	ReasonRule Reason = iota
	// ReasonDefault: no rule matched and default_action let the connection through.
	ReasonDefault
	// ReasonClientNotAllowed: the client address is not in clients.
	ReasonClientNotAllowed
	// ReasonNoRule: no rule names the target.
	ReasonNoRule
	// ReasonPortNotAllowed: a rule names the target, but not on this port.
	ReasonPortNotAllowed
	// ReasonDeniedAddress: the destination address is in deny_cidrs and no rule opens it.
	ReasonDeniedAddress
	// ReasonSNIMismatch: the ClientHello names another host than the CONNECT target (domain fronting).
	ReasonSNIMismatch
	// ReasonSNINotAllowed: no rule allows the ClientHello's server name on this port.
	ReasonSNINotAllowed
	// ReasonBadTarget: the query names no destination.
	ReasonBadTarget
)

var reasonNames = [...]string{
	ReasonRule:             "rule",
	ReasonDefault:          "default_action",
	ReasonClientNotAllowed: "client_not_allowed",
	ReasonNoRule:           "no_rule",
	ReasonPortNotAllowed:   "port_not_allowed",
	ReasonDeniedAddress:    "denied_address",
	ReasonSNIMismatch:      "sni_mismatch",
	ReasonSNINotAllowed:    "sni_not_allowed",
	ReasonBadTarget:        "bad_target",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}
