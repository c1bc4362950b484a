package clienthello

import (
	"bytes"
	"fmt"
	"io"
	"slices"
)

const (
	recordTypeChangeCipherSpec = 20
	recordTypeApplicationData  = 23
	handshakeTypeServerHello   = 2
	// serverHelloStart is how much of a ServerHello tells a HelloRetryRequest from the rest:
	// the handshake header (4), legacy_version (2) and random (32).
	serverHelloStart = handshakeHeaderLen + 2 + 32
)

// helloRetryRandom is the ServerHello.random that makes a ServerHello a HelloRetryRequest
// (RFC 8446 section 4.1.3): the SHA-256 of "HelloRetryRequest".
var helloRetryRandom = [32]byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// ReadServerStart reads the start of a server's answer to a ClientHello, so that the caller can
// pass raw on to the client and splice the rest: when the server speaks TLS 1.3 and asks for a
// second ClientHello, the caller must read and check that hello too (a client could otherwise
// name another server in it, after the proxy checked the first one).
//
// It reads at least what it needs to tell (the first record header and 38 bytes of handshake),
// and takes whatever else each read returns within buf's capacity: the rest of the server's
// first flight usually arrives with its ServerHello, and passing it on in the same write saves a
// system call and a TCP segment each way. Every byte read is in raw, for the client.
//
// retry is true when the first handshake message is a HelloRetryRequest: a ServerHello whose
// random is the special value of RFC 8446 section 4.1.3. raw then holds at least the whole
// message (its records, at most max bytes), which the client needs before it can send its
// second hello. An ordinary ServerHello, an alert or anything else is not looked at further.
//
// Errors: r's own (a deadline, io.EOF before anything, io.ErrUnexpectedEOF inside what was
// needed); with retry, ErrTooLarge or ErrMalformed when the rest of the HelloRetryRequest
// cannot be read within max. raw always holds exactly the bytes consumed from r, at most
// max(max, cap(buf)) of them.
func ReadServerStart(r io.Reader, buf []byte, max int) (retry bool, raw []byte, err error) {
	sr := serverReader{r: r, raw: buf[:0], limit: cap(buf)}
	if sr.limit < max {
		sr.limit = max
	}
	var (
		hs  [serverHelloStart]byte // the start of the handshake message, which may span records
		hsN int
		rec int // bytes of the current record not parsed yet
	)
	for hsN < serverHelloStart {
		if sr.pos+recordHeaderLen > max {
			return false, sr.raw, fmt.Errorf("%w: no ServerHello within %d bytes", ErrTooLarge, max)
		}
		h, err := sr.next(recordHeaderLen)
		if err != nil {
			return false, sr.raw, err
		}
		if h[0] != recordTypeHandshake {
			return false, sr.raw, nil // an alert or not TLS: no second hello can follow
		}
		rec = int(h[3])<<8 | int(h[4])
		take := min(rec, serverHelloStart-hsN)
		b, err := sr.next(take)
		if err != nil {
			return false, sr.raw, err
		}
		hsN += copy(hs[hsN:], b)
		rec -= take
		if hsN > 0 && hs[0] != handshakeTypeServerHello {
			return false, sr.raw, nil
		}
	}
	if !bytes.Equal(hs[handshakeHeaderLen+2:], helloRetryRandom[:]) {
		return false, sr.raw, nil
	}

	// A HelloRetryRequest: the client needs all of it. Read the rest of the message, from the
	// current record and then from further handshake records.
	rest := handshakeHeaderLen + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])) - serverHelloStart
	if rest < 0 {
		return true, sr.raw, fmt.Errorf("%w: HelloRetryRequest of %d bytes", ErrMalformed, rest+serverHelloStart)
	}
	sr.limit = max // what the client must be sent before its second hello is bounded by max
	for rest > 0 {
		if rec == 0 {
			if sr.pos+recordHeaderLen > max {
				return true, sr.raw, fmt.Errorf("%w: HelloRetryRequest of more than %d bytes", ErrTooLarge, max)
			}
			h, err := sr.next(recordHeaderLen)
			if err != nil {
				return true, sr.raw, fmt.Errorf("clienthello: reading HelloRetryRequest: %w", err)
			}
			if h[0] != recordTypeHandshake {
				return true, sr.raw, fmt.Errorf("%w: record type %d inside the HelloRetryRequest", ErrMalformed, h[0])
			}
			rec = int(h[3])<<8 | int(h[4])
		}
		take := min(rec, rest)
		if sr.pos+take > max {
			return true, sr.raw, fmt.Errorf("%w: HelloRetryRequest of more than %d bytes", ErrTooLarge, max)
		}
		if _, err := sr.next(take); err != nil {
			return true, sr.raw, fmt.Errorf("clienthello: reading HelloRetryRequest: %w", err)
		}
		rec -= take
		rest -= take
	}
	return true, sr.raw, nil
}

// serverReader reads a server's bytes into raw for ReadServerStart: at least what the parser
// needs next, and whatever more a read returns, up to limit bytes in all.
type serverReader struct {
	r     io.Reader
	raw   []byte // every byte read
	pos   int    // how many of them the parser has taken
	limit int
}

// next returns the parser's next n bytes, reading when raw does not hold them yet. io.EOF is
// io.ErrUnexpectedEOF unless nothing at all was read.
func (sr *serverReader) next(n int) ([]byte, error) {
	if need := sr.pos + n - len(sr.raw); need > 0 {
		room := max(need, sr.limit-len(sr.raw))
		sr.raw = slices.Grow(sr.raw, need)
		room = min(room, cap(sr.raw)-len(sr.raw))
		got, err := io.ReadAtLeast(sr.r, sr.raw[len(sr.raw):len(sr.raw)+room], need)
		sr.raw = sr.raw[:len(sr.raw)+got]
		if err != nil {
			if err == io.EOF && len(sr.raw) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	b := sr.raw[sr.pos : sr.pos+n]
	sr.pos += n
	return b, nil
}

// ReadRetry reads a client's second ClientHello, the answer to a HelloRetryRequest, as Read
// reads the first. Before it the client may send a change_cipher_spec record (middlebox
// compatibility mode, RFC 8446 appendix D.4) and early-data records the server skips (RFC 8446
// section 4.2.10); they are read and returned in raw too, counted against max.
func ReadRetry(r io.Reader, buf []byte, max int) (info Info, raw []byte, err error) {
	raw = buf[:0]
	for {
		if len(raw)+recordHeaderLen > max {
			return Info{}, raw, fmt.Errorf("%w: more than %d bytes before the second ClientHello", ErrTooLarge, max)
		}
		if raw, err = readN(r, raw, recordHeaderLen); err != nil {
			return Info{}, raw, fmt.Errorf("clienthello: reading second ClientHello: %w", err)
		}
		h := raw[len(raw)-recordHeaderLen:]
		n := int(h[3])<<8 | int(h[4])
		switch {
		case h[0] == recordTypeHandshake:
			// The hello itself: Read starts again from its record header.
			var hdr [recordHeaderLen]byte
			copy(hdr[:], h)
			before := raw[:len(raw)-recordHeaderLen]
			var hello []byte
			info, hello, err = Read(io.MultiReader(bytes.NewReader(hdr[:]), r), nil, max-len(before))
			return info, append(before, hello...), err
		case h[0] == recordTypeChangeCipherSpec && n == 1,
			h[0] == recordTypeApplicationData && n > 0 && n <= maxPlaintext+256:
		default:
			return Info{}, raw, fmt.Errorf("%w: record type %d of %d bytes before the second ClientHello", ErrMalformed, h[0], n)
		}
		if len(raw)+n > max {
			return Info{}, raw, fmt.Errorf("%w: more than %d bytes before the second ClientHello", ErrTooLarge, max)
		}
		if raw, err = readN(r, raw, n); err != nil {
			return Info{}, raw, fmt.Errorf("clienthello: reading second ClientHello: %w", err)
		}
	}
}
