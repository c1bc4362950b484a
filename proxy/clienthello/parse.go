package clienthello

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// Extension types the proxy looks at.
const (
	extServerName        = 0
	extALPN              = 16
	extSupportedVersions = 43
	extKeyShare          = 51
	extECH               = 0xfe0d
)

// Parse parses a ClientHello handshake message, starting at its 4-byte handshake header and ending
// exactly where the message ends.
//
// It checks the structure RFC 8446 section 4.1.2 (and RFC 5246 for hellos without extensions) gives
// the hello, rejects duplicate extensions, and decodes the extensions in Info; the others are only
// framed. A present server_name extension must carry exactly one host_name of printable ASCII without
// spaces (0x21-0x7e): anything else could not match a policy name, and rejecting it keeps control bytes
// out of logs.
func Parse(msg []byte) (Info, error) {
	var info Info
	s := cryptobyte.String(msg)
	var typ uint8
	var body cryptobyte.String
	if !s.ReadUint8(&typ) || !s.ReadUint24LengthPrefixed(&body) {
		return Info{}, fmt.Errorf("%w: short handshake message", ErrMalformed)
	}
	if typ != handshakeTypeClientHello {
		return Info{}, fmt.Errorf("%w: handshake type %d", ErrMalformed, typ)
	}
	if !s.Empty() {
		return Info{}, fmt.Errorf("%w: %d bytes after the ClientHello", ErrMalformed, len(s))
	}
	var sessionID, suites, compression cryptobyte.String
	switch {
	case !body.ReadUint16(&info.LegacyVersion) || !body.Skip(32):
		return Info{}, fmt.Errorf("%w: short version or random", ErrMalformed)
	case !body.ReadUint8LengthPrefixed(&sessionID) || len(sessionID) > 32:
		return Info{}, fmt.Errorf("%w: session id", ErrMalformed)
	case !body.ReadUint16LengthPrefixed(&suites) || len(suites) == 0 || len(suites)%2 != 0:
		return Info{}, fmt.Errorf("%w: cipher suites", ErrMalformed)
	case !body.ReadUint8LengthPrefixed(&compression) || len(compression) == 0:
		return Info{}, fmt.Errorf("%w: compression methods", ErrMalformed)
	}
	if body.Empty() {
		return info, nil // a TLS 1.0-1.2 hello may omit the extensions block entirely
	}
	var exts cryptobyte.String
	if !body.ReadUint16LengthPrefixed(&exts) || !body.Empty() {
		return Info{}, fmt.Errorf("%w: extensions block", ErrMalformed)
	}
	if err := parseExtensions(exts, &info); err != nil {
		return Info{}, err
	}
	return info, nil
}

// parseExtensions validates every extension first and only then allocates Info's fields, each at its
// final size: a hello costs at most three allocations (one string for SNI and ALPN, one []string, one
// []uint16), and a malformed one none before its error.
func parseExtensions(exts cryptobyte.String, info *Info) error {
	var (
		seenArr  [64]uint16 // real hellos carry about 20 extensions: no allocation
		seen     = seenArr[:0]
		host     []byte            // nil without server_name
		alpn     cryptobyte.String // the protocol_name_list, nil without ALPN
		versions cryptobyte.String // the versions list
		shares   cryptobyte.String // the client_shares list
		nALPN    int               // protocol names in alpn
		alpnText int               // their total length
		nShares  int               // entries in shares
	)
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return fmt.Errorf("%w: extension framing", ErrMalformed)
		}
		seen = append(seen, typ)
		var err error
		switch typ {
		case extServerName:
			host, err = parseServerName(data)
		case extALPN:
			alpn, nALPN, err = parseALPN(data)
			alpnText = len(alpn) - nALPN // each name has one length byte
		case extSupportedVersions:
			if !data.ReadUint8LengthPrefixed(&versions) || !data.Empty() || len(versions) == 0 || len(versions)%2 != 0 {
				err = fmt.Errorf("%w: supported_versions", ErrMalformed)
			}
		case extKeyShare:
			shares, nShares, err = parseKeyShare(data)
		case extECH:
			info.ECH = true // presence is all the proxy needs: the payload is opaque to it
		}
		if err != nil {
			return err
		}
	}
	// RFC 8446 4.2: at most one extension of each type. Sorting ~20 values beats a 64 Kbit set.
	slices.Sort(seen)
	for i := 1; i < len(seen); i++ {
		if seen[i] == seen[i-1] {
			return fmt.Errorf("%w: duplicate extension %d", ErrMalformed, seen[i])
		}
	}

	if host != nil || alpn != nil {
		var b strings.Builder
		b.Grow(len(host) + alpnText)
		b.Write(host)
		for l := alpn; !l.Empty(); {
			var p cryptobyte.String
			l.ReadUint8LengthPrefixed(&p) // framing checked by parseALPN
			b.Write(p)
		}
		text := b.String()
		info.ServerName = text[:len(host)]
		if alpn != nil {
			info.ALPN = make([]string, 0, nALPN)
			off := len(host)
			for l := alpn; !l.Empty(); {
				var p cryptobyte.String
				l.ReadUint8LengthPrefixed(&p)
				info.ALPN = append(info.ALPN, text[off:off+len(p)])
				off += len(p)
			}
		}
	}
	nVersions := len(versions) / 2
	if nVersions+nShares > 0 {
		u := make([]uint16, nVersions+nShares)
		for i := range nVersions {
			versions.ReadUint16(&u[i])
		}
		for i := range nShares {
			var key cryptobyte.String
			shares.ReadUint16(&u[nVersions+i])
			shares.ReadUint16LengthPrefixed(&key) // framing checked by parseKeyShare
		}
		if nVersions > 0 {
			info.SupportedVersions = u[:nVersions:nVersions] // capped: an append must not overwrite the groups
		}
		if nShares > 0 {
			info.KeyShareGroups = u[nVersions:]
		}
	}
	return nil
}

// parseServerName returns the host_name of a server_name extension (RFC 6066 section 3). Entries of
// other name types are skipped as crypto/tls does (none are defined); exactly one host_name is required.
func parseServerName(data cryptobyte.String) ([]byte, error) {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() || list.Empty() {
		return nil, fmt.Errorf("%w: server_name list", ErrMalformed)
	}
	var host []byte
	for !list.Empty() {
		var nameType uint8
		var name cryptobyte.String
		if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&name) {
			return nil, fmt.Errorf("%w: server_name entry", ErrMalformed)
		}
		if nameType != 0 {
			continue
		}
		if host != nil {
			return nil, fmt.Errorf("%w: more than one host_name", ErrMalformed)
		}
		if len(name) == 0 {
			return nil, fmt.Errorf("%w: empty host_name", ErrMalformed)
		}
		for _, c := range name {
			if c < 0x21 || c > 0x7e {
				return nil, fmt.Errorf("%w: host_name byte %#02x", ErrMalformed, c)
			}
		}
		host = name
	}
	if host == nil {
		return nil, fmt.Errorf("%w: server_name without host_name", ErrMalformed)
	}
	return host, nil
}

// parseALPN validates an ALPN extension (RFC 7301 section 3.1) and returns its protocol_name_list and
// the number of names in it.
func parseALPN(data cryptobyte.String) (cryptobyte.String, int, error) {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() || list.Empty() {
		return nil, 0, fmt.Errorf("%w: ALPN list", ErrMalformed)
	}
	n := 0
	for l := list; !l.Empty(); n++ {
		var p cryptobyte.String
		if !l.ReadUint8LengthPrefixed(&p) || p.Empty() {
			return nil, 0, fmt.Errorf("%w: ALPN protocol name", ErrMalformed)
		}
	}
	return list, n, nil
}

// parseKeyShare validates a ClientHello key_share extension (RFC 8446 section 4.2.8) and returns its
// client_shares list and the number of entries. An empty list is legal (the client waits for a
// HelloRetryRequest); an empty key_exchange is not.
func parseKeyShare(data cryptobyte.String) (cryptobyte.String, int, error) {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() {
		return nil, 0, fmt.Errorf("%w: key_share list", ErrMalformed)
	}
	n := 0
	for l := list; !l.Empty(); n++ {
		var group uint16
		var key cryptobyte.String
		if !l.ReadUint16(&group) || !l.ReadUint16LengthPrefixed(&key) || key.Empty() {
			return nil, 0, fmt.Errorf("%w: key_share entry", ErrMalformed)
		}
	}
	return list, n, nil
}
