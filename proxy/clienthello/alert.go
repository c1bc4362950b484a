package clienthello

// TLS alert descriptions (RFC 8446 section 6) a proxy sends when it refuses a hello.
const (
	// AlertHandshakeFailure is a generic refusal.
	AlertHandshakeFailure uint8 = 40
	// AlertAccessDenied tells the client a policy refused it.
	AlertAccessDenied uint8 = 49
	// AlertDecodeError answers a malformed hello.
	AlertDecodeError uint8 = 50
	// AlertInternalError answers when the proxy itself failed (e.g. the origin could not take the hello).
	AlertInternalError uint8 = 80
	// AlertUnrecognizedName answers an SNI the proxy will not serve; clients report it clearly
	// ("tls: unrecognized name"), which is what tcpproxy's tlsrouter and Squid do too.
	AlertUnrecognizedName uint8 = 112
)

// Alert returns a fatal TLS alert record (level 2) with the given description, ready to write to a
// client whose hello was refused. The proxy sends it in plaintext before any key exchange, which every
// client accepts because no keys exist yet. The record version is 0x0303 (TLS 1.2), what TLS 1.3
// requires for every record but the first hello and what older clients expect too.
func Alert(desc uint8) []byte {
	return []byte{recordTypeAlert, 3, 3, 0, 2, alertLevelFatal, desc}
}

const (
	recordTypeAlert = 21
	alertLevelFatal = 2
)
