package clienthello

import (
	"fmt"
	"io"
	"slices"
)

const (
	recordTypeHandshake      = 22
	recordHeaderLen          = 5
	maxPlaintext             = 1 << 14 // RFC 8446 5.1: a plaintext record carries at most 2^14 bytes
	handshakeHeaderLen       = 4
	handshakeTypeClientHello = 1
)

// Read reads exactly the TLS records that carry one whole ClientHello from r and no byte more: a client
// may send 0-RTT data right after its hello and it must stay unread for the splice. Every byte read is
// appended to buf[:0] and returned as raw, so the caller can replay it to the origin; pass a reused
// buffer (cap >= 2 KB) to avoid allocating. max bounds the total bytes read, record headers included;
// a hello of exactly max bytes is accepted.
//
// Errors: ErrNotTLS (raw holds only the first byte, so a non-TLS client that sent a single byte is not
// stalled waiting for more); ErrTooLarge; ErrMalformed (wrapped with detail); io.EOF if r ended before
// the first byte and io.ErrUnexpectedEOF if it ended inside the hello; r's own errors (e.g. a read
// deadline) otherwise. All are wrapped: test them with errors.Is. On every error raw still holds
// exactly the bytes consumed from r.
func Read(r io.Reader, buf []byte, max int) (info Info, raw []byte, err error) {
	raw = buf[:0]
	if max < 1 {
		return Info{}, raw, fmt.Errorf("%w: limit %d", ErrTooLarge, max)
	}
	// One byte first: deciding "not TLS" must not wait for bytes a plain-text client never sends.
	if raw, err = readN(r, raw, 1); err != nil {
		return Info{}, raw, fmt.Errorf("clienthello: reading first byte: %w", err)
	}
	if raw[0] != recordTypeHandshake {
		return Info{}, raw, fmt.Errorf("%w: first byte %#02x", ErrNotTLS, raw[0])
	}

	var (
		hs      [handshakeHeaderLen]byte // handshake header, which may itself span records
		hsN     int                      // bytes of hs filled
		msgLen  = -1                     // handshake message length incl. header, once hs is complete
		payload int                      // handshake bytes read so far
		records int
	)
	for msgLen < 0 || payload < msgLen {
		start := len(raw)
		if records == 0 {
			start = 0 // the type byte is already in raw
		}
		if start+recordHeaderLen > max {
			return Info{}, raw, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
		}
		if raw, err = readN(r, raw, start+recordHeaderLen-len(raw)); err != nil {
			return Info{}, raw, fmt.Errorf("clienthello: reading record header: %w", err)
		}
		h := raw[start:]
		if h[0] != recordTypeHandshake {
			return Info{}, raw, fmt.Errorf("%w: record type %d before the ClientHello ended", ErrMalformed, h[0])
		}
		if h[1] != 3 {
			return Info{}, raw, fmt.Errorf("%w: record version %#02x%02x", ErrMalformed, h[1], h[2])
		}
		n := int(h[3])<<8 | int(h[4])
		switch {
		case n == 0:
			return Info{}, raw, fmt.Errorf("%w: empty handshake record", ErrMalformed)
		case n > maxPlaintext:
			return Info{}, raw, fmt.Errorf("%w: record of %d bytes", ErrMalformed, n)
		case msgLen >= 0 && payload+n > msgLen:
			return Info{}, raw, fmt.Errorf("%w: record runs %d bytes past the ClientHello", ErrMalformed, payload+n-msgLen)
		case len(raw)+n > max:
			// Checked before reading: a hostile length must not make us buffer anything.
			return Info{}, raw, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
		}
		if raw, err = readN(r, raw, n); err != nil {
			return Info{}, raw, fmt.Errorf("clienthello: reading record body: %w", err)
		}
		records++
		payload += n
		if msgLen >= 0 {
			continue
		}
		hsN += copy(hs[hsN:], raw[len(raw)-n:])
		if hs[0] != handshakeTypeClientHello {
			return Info{}, raw, fmt.Errorf("%w: first handshake message has type %d", ErrMalformed, hs[0])
		}
		if hsN < handshakeHeaderLen {
			continue
		}
		msgLen = handshakeHeaderLen + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]))
		if payload > msgLen {
			return Info{}, raw, fmt.Errorf("%w: record runs %d bytes past the ClientHello", ErrMalformed, payload-msgLen)
		}
		// The rest of the message needs at least one header per 2^14 bytes: fail now, not after
		// buffering up to max bytes of a hello that can never fit.
		if rest := msgLen - payload; rest > 0 {
			if need := len(raw) + rest + recordHeaderLen*((rest+maxPlaintext-1)/maxPlaintext); need > max {
				return Info{}, raw, fmt.Errorf("%w: hello needs %d bytes, limit %d", ErrTooLarge, need, max)
			}
		}
	}

	if records == 1 {
		info, err = Parse(raw[recordHeaderLen:])
		return info, raw, err
	}
	// Several records: Parse needs the message contiguous. Gather the record bodies behind raw, in the
	// caller's spare capacity when there is enough, and hand raw back without them (keeping the capacity
	// for the caller's next hello; Info holds no reference into it).
	end := len(raw)
	all := slices.Grow(raw, payload)
	for off := 0; off < end; {
		n := int(raw[off+3])<<8 | int(raw[off+4])
		all = append(all, raw[off+recordHeaderLen:off+recordHeaderLen+n]...)
		off += recordHeaderLen + n
	}
	info, err = Parse(all[end:])
	return info, all[:end], err
}

// readN appends exactly n bytes from r to raw, or as many as r gave before failing. io.EOF is
// io.ErrUnexpectedEOF unless nothing at all was read yet: the hello was cut short.
func readN(r io.Reader, raw []byte, n int) ([]byte, error) {
	raw = slices.Grow(raw, n)
	got, err := io.ReadFull(r, raw[len(raw):len(raw)+n])
	if err == io.EOF && len(raw) > 0 {
		err = io.ErrUnexpectedEOF
	}
	return raw[:len(raw)+got], err
}
