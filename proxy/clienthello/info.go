package clienthello

import "errors"

// DefaultMax is a generous bound for Read: real hellos are 0.3-2 KB (a few KB with several
// post-quantum key shares or a large session ticket). The bound keeps a hostile client from making the
// proxy buffer megabytes per connection (a handshake message may claim up to 16 MiB).
const DefaultMax = 64 << 10

// Info is what the proxy learns from a ClientHello.
type Info struct {
	// ServerName is the SNI host_name exactly as sent (no normalisation here), "" if there is no
	// server_name extension. Read and Parse never return an empty name from a present extension:
	// that is malformed.
	ServerName string
	// ALPN lists the offered application protocols in order; nil without the ALPN extension.
	ALPN []string
	// ECH reports an encrypted_client_hello extension (0xfe0d): ServerName is then the outer name.
	ECH bool
	// LegacyVersion is the ClientHello's legacy_version (0x0303 for TLS 1.2 and 1.3 clients).
	LegacyVersion uint16
	// SupportedVersions lists the supported_versions extension; nil without it (pre-TLS 1.3 clients).
	SupportedVersions []uint16
	// KeyShareGroups lists the groups of the key_share entries (e.g. 0x11ec X25519MLKEM768, 0x001d
	// X25519); nil without the extension or with an empty share list.
	KeyShareGroups []uint16
}

var (
	// ErrNotTLS means the first byte is not a TLS handshake record (0x16). Read then returns that one
	// byte in raw, so the caller can replay it if it splices non-TLS traffic.
	ErrNotTLS = errors.New("clienthello: not a TLS handshake")
	// ErrTooLarge means the hello needs more bytes than the caller's limit.
	ErrTooLarge = errors.New("clienthello: ClientHello larger than the limit")
	// ErrMalformed means the bytes are not a well-formed ClientHello; errors wrap it with detail.
	ErrMalformed = errors.New("clienthello: malformed ClientHello")
)
