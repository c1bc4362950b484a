package allowlist

// Reason says why a connection was decided, refused, failed or ended. Its String form is the
// event.reason token the SIEM sees. This file is the one vocabulary of those tokens: the
// policy's own reasons (Decide returns them), and those the proxy gives for what happens in
// the transport (a head that does not parse, a dial that fails, a tunnel that ends). A new
// token is added here and nowhere else.
type Reason uint8

// The policy's reasons: Decide returns these.
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
	// ReasonBadTarget: the target names no destination, or did not parse.
	ReasonBadTarget

	// ReasonSNIAddressMismatch: an intercepted flow's SNI is allowed by a domain rule, but does not
	// resolve to the address the client connected to (an allowed name cannot pick a destination).
	ReasonSNIAddressMismatch
	// ReasonNotTLS: the rule requires TLS and the first bytes were not a ClientHello. The proxy
	// finds it out, but it is a policy refusal: report mode lets it through.
	ReasonNotTLS
)

// The transport's reasons: the proxy gives these for bad input, failures and limits.
const (
	// ReasonBadRequest: the request head did not parse, or is one a proxy must not pass on.
	ReasonBadRequest Reason = iota + ReasonNotTLS + 1
	// ReasonHeaderTooLarge: the request head exceeded limits.max_header_bytes.
	ReasonHeaderTooLarge
	// ReasonHeaderTimeout: the request head did not arrive within timeouts.header.
	ReasonHeaderTimeout
	// ReasonResolveFailed: the name did not resolve.
	ReasonResolveFailed
	// ReasonResolveTimeout: the name did not resolve within timeouts.connect.
	ReasonResolveTimeout
	// ReasonDialFailed: the destination refused or was unreachable.
	ReasonDialFailed
	// ReasonDialTimeout: the destination did not answer within timeouts.connect.
	ReasonDialTimeout
	// ReasonUpstreamFailed: the upstream proxy refused the connection or broke the exchange.
	ReasonUpstreamFailed
	// ReasonUpstreamTimeout: the upstream proxy did not answer within timeouts.connect.
	ReasonUpstreamTimeout
	// ReasonUpstreamRefused: the upstream proxy answered the CONNECT with a refusal, relayed.
	ReasonUpstreamRefused
	// ReasonHelloTimeout: no whole ClientHello within timeouts.hello.
	ReasonHelloTimeout
	// ReasonHelloTooLarge: the ClientHello exceeded limits.max_hello_bytes.
	ReasonHelloTooLarge
	// ReasonBadHello: the ClientHello did not parse.
	ReasonBadHello
	// ReasonBadSNI: the server name is not a valid host name.
	ReasonBadSNI
	// ReasonClientClosed: the client went away before the tunnel was spliced.
	ReasonClientClosed
	// ReasonServerHelloTimeout: the destination did not answer the ClientHello within
	// timeouts.connect.
	ReasonServerHelloTimeout
	// ReasonServerHelloFailed: the destination failed before answering the ClientHello, or sent
	// a HelloRetryRequest that could not be read.
	ReasonServerHelloFailed
	// ReasonTooManyTunnels: limits.max_tunnels tunnels are open or being set up.
	ReasonTooManyTunnels
	// ReasonTooManyClientTunnels: the client holds limits.max_tunnels_per_client tunnels.
	ReasonTooManyClientTunnels
	// ReasonNoOriginalDst: an intercepted flow's original destination could not be read.
	ReasonNoOriginalDst
	// ReasonOwnAddress: a flow (CONNECT, plain HTTP or intercepted) was aimed at one of
	// mdmproxy's own listeners (a loop, or a way in to the admin server).
	ReasonOwnAddress
	// ReasonInternalError: the proxy failed (a recovered panic); the connection was closed.
	ReasonInternalError
	// ReasonProxyHeaderMissing: a source in proxy_protocol.trusted sent no PROXY header.
	ReasonProxyHeaderMissing
	// ReasonProxyHeaderUntrusted: a PROXY header from a source not in proxy_protocol.trusted.
	ReasonProxyHeaderUntrusted
	// ReasonBadProxyHeader: a trusted source's PROXY header did not parse.
	ReasonBadProxyHeader
)

// The reasons of end events: why a tunnel or request ended.
const (
	// ReasonEOF: both sides finished.
	ReasonEOF Reason = iota + ReasonBadProxyHeader + 1
	// ReasonIdleTimeout: no bytes either way for timeouts.idle.
	ReasonIdleTimeout
	// ReasonHalfCloseTimeout: one side finished and the other went on past timeouts.half_close.
	ReasonHalfCloseTimeout
	// ReasonReset: a side reset or failed.
	ReasonReset
	// ReasonShutdown: the proxy was stopping (the shutdown grace period ended).
	ReasonShutdown
	// ReasonRelayFailed: the proxy could not relay (e.g. out of descriptors).
	ReasonRelayFailed
	// ReasonPolicyRevoked: a reload's policy no longer allows the open tunnel.
	ReasonPolicyRevoked

	numReasons
)

var reasonNames = [numReasons]string{
	ReasonRule:               "rule",
	ReasonDefault:            "default_action",
	ReasonClientNotAllowed:   "client_not_allowed",
	ReasonNoRule:             "no_rule",
	ReasonPortNotAllowed:     "port_not_allowed",
	ReasonDeniedAddress:      "denied_address",
	ReasonSNIMismatch:        "sni_mismatch",
	ReasonSNINotAllowed:      "sni_not_allowed",
	ReasonBadTarget:          "bad_target",
	ReasonSNIAddressMismatch: "sni_address_mismatch",
	ReasonNotTLS:             "not_tls",

	ReasonBadRequest:           "bad_request",
	ReasonHeaderTooLarge:       "header_too_large",
	ReasonHeaderTimeout:        "header_timeout",
	ReasonResolveFailed:        "resolve_failed",
	ReasonResolveTimeout:       "resolve_timeout",
	ReasonDialFailed:           "dial_failed",
	ReasonDialTimeout:          "dial_timeout",
	ReasonUpstreamFailed:       "upstream_failed",
	ReasonUpstreamTimeout:      "upstream_timeout",
	ReasonUpstreamRefused:      "upstream_refused",
	ReasonHelloTimeout:         "hello_timeout",
	ReasonHelloTooLarge:        "hello_too_large",
	ReasonBadHello:             "bad_hello",
	ReasonBadSNI:               "bad_sni",
	ReasonClientClosed:         "client_closed",
	ReasonServerHelloTimeout:   "server_hello_timeout",
	ReasonServerHelloFailed:    "server_hello_failed",
	ReasonTooManyTunnels:       "too_many_tunnels",
	ReasonTooManyClientTunnels: "too_many_client_tunnels",
	ReasonNoOriginalDst:        "no_original_destination",
	ReasonOwnAddress:           "own_address",
	ReasonInternalError:        "internal_error",
	ReasonProxyHeaderMissing:   "proxy_header_missing",
	ReasonProxyHeaderUntrusted: "proxy_header_untrusted",
	ReasonBadProxyHeader:       "bad_proxy_header",

	ReasonEOF:              "eof",
	ReasonIdleTimeout:      "idle_timeout",
	ReasonHalfCloseTimeout: "half_close_timeout",
	ReasonReset:            "reset",
	ReasonShutdown:         "shutdown",
	ReasonRelayFailed:      "relay_failed",
	ReasonPolicyRevoked:    "policy_revoked",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons returns every reason, in the order of this file (documentation and tests list them).
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// Reportable reports whether report mode lets a refusal for this reason through: a refusal by
// policy (no rule, port, SNI, an intercepted SNI's address, not TLS). The client check, deny_cidrs, bad input and limits hold
// in report mode too.
func (r Reason) Reportable() bool {
	switch r {
	case ReasonNoRule, ReasonPortNotAllowed, ReasonSNIMismatch, ReasonSNINotAllowed, ReasonSNIAddressMismatch, ReasonNotTLS:
		return true
	}
	return false
}
