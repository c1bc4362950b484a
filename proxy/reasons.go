package proxy

// Reasons the proxy itself gives in events (event.reason), beside the policy's own
// (allowlist.Reason). They name what went wrong in the transport, not in the policy.
const (
	reasonBadRequest     = "bad_request"        // the request head did not parse
	reasonHeaderTooLarge = "header_too_large"   // the request head exceeded limits.max_header_bytes
	reasonHeaderTimeout  = "header_timeout"     // the request head did not arrive within timeouts.header
	reasonBadTarget      = "bad_target"         // the CONNECT target did not parse
	reasonPlainHTTP      = "plain_http"         // plain-HTTP proxying is not built yet
	reasonResolveFailed  = "resolve_failed"     // the name did not resolve
	reasonResolveTimeout = "resolve_timeout"    // the name did not resolve within timeouts.connect
	reasonDialFailed     = "dial_failed"        // the destination refused or was unreachable
	reasonDialTimeout    = "dial_timeout"       // the destination did not answer within timeouts.connect
	reasonNotTLS         = "not_tls"            // tls: required, and the first bytes were not a ClientHello
	reasonHelloTimeout   = "hello_timeout"      // no whole ClientHello within timeouts.hello
	reasonHelloTooLarge  = "hello_too_large"    // the ClientHello exceeded limits.max_hello_bytes
	reasonBadHello       = "bad_hello"          // the ClientHello did not parse
	reasonBadSNI         = "bad_sni"            // the server name is not a valid host name
	reasonClientClosed   = "client_closed"      // the client went away before the tunnel was spliced
	reasonShutdown       = "shutdown"           // the proxy was stopping
	endEOF               = "eof"                // both sides finished
	endIdle              = "idle_timeout"       // no bytes either way for timeouts.idle
	endHalfClose         = "half_close_timeout" // one side finished and the other went on past timeouts.half_close
	endReset             = "reset"              // a side reset or failed
	endShutdown          = "shutdown"           // the shutdown grace period ended
	endRelayFailed       = "relay_failed"       // the proxy could not relay (e.g. out of descriptors)
)
