package proxy

import (
	"bufio"
	"bytes"
	"errors"
)

// Errors of a request head that is not HTTP/1.x. Each becomes a 400 and a bad_request event.
var (
	errBadRequestLine = errors.New("malformed request line")
	errBadHeaderLine  = errors.New("malformed header line")
	errHeaderFolding  = errors.New("header line folding (obs-fold) is not accepted")
)

// readHead reads a request head up to its empty line and checks it: the request line must be
// METHOD SP TARGET SP HTTP/1.x, and every header line NAME ":" VALUE with a token name and no
// control characters in the value. The session's limited reader bounds the head by
// limits.max_header_bytes and the read deadline by timeouts.header.
//
// It returns the request target, and when keep is set a copy of the whole head, which the
// plain-HTTP server parses again. A CONNECT needs only the target, so its head is not copied.
// Every line is checked whole: one longer than the reader's buffer is gathered first (in the
// kept head, or in a buffer of its own), so where the buffer splits it cannot matter.
func (ss *session) readHead(keep bool) (head []byte, target string, err error) {
	var (
		long      []byte // without keep: a line longer than the buffer, gathered
		partial   bool   // the current line came in more than one chunk so far
		lineStart int    // with keep: where the current line starts in head
		inRequest = true // the current line is the request line
	)
	for {
		chunk, err := ss.br.ReadSlice('\n')
		if keep {
			head = append(head, chunk...)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return head, "", err
		}
		line := chunk
		if keep {
			line = head[lineStart:]
		} else if err != nil || partial {
			long = append(long, chunk...)
			line = long
		}
		if err != nil { // the buffer is full and the line goes on
			partial = true
			continue
		}
		partial, long, lineStart = false, long[:0], len(head)
		line = trimEOL(line)
		if inRequest {
			t, ok := parseRequestLine(line)
			if !ok {
				return head, "", errBadRequestLine
			}
			target, inRequest = string(t), false
			continue
		}
		if len(line) == 0 {
			return head, target, nil // the empty line that ends the head
		}
		if err := checkHeaderLine(line); err != nil {
			return head, "", err
		}
		if !keep && len(line) > len(proxyAuthorization) && asciiEqualFold(line[:len(proxyAuthorization)], proxyAuthorization) {
			// A CONNECT's own proxy credentials, for an upstream that has none of its own.
			ss.proxyAuth = string(bytes.TrimSpace(line[len(proxyAuthorization):]))
		}
	}
}

// proxyAuthorization is the header name, with its colon, that readHead keeps from a CONNECT.
const proxyAuthorization = "Proxy-Authorization:"

// checkHeaderLine checks one header line, without its line end.
func checkHeaderLine(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return errHeaderFolding
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok || !validToken(name) || !validHeaderValue(value) {
		return errBadHeaderLine
	}
	return nil
}

// trimEOL removes the line's "\n" or "\r\n".
func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// parseRequestLine returns the target of METHOD SP TARGET SP HTTP/1.x, where the method is a
// token of capital letters.
func parseRequestLine(line []byte) (target []byte, ok bool) {
	method, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(method) == 0 {
		return nil, false
	}
	for _, c := range method {
		if c < 'A' || c > 'Z' {
			return nil, false
		}
	}
	target, proto, ok := bytes.Cut(rest, []byte(" "))
	if !ok || len(target) == 0 || bytes.IndexByte(target, '\r') >= 0 {
		return nil, false
	}
	if string(proto) != "HTTP/1.1" && string(proto) != "HTTP/1.0" {
		return nil, false
	}
	return target, true
}

// validRequestLine reports whether line is METHOD SP TARGET SP HTTP/1.x.
func validRequestLine(line []byte) bool {
	_, ok := parseRequestLine(line)
	return ok
}

// validToken reports whether b is a non-empty RFC 9110 token, as a header name must be.
func validToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether b holds no control character but horizontal tab.
func validHeaderValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// tokenChar marks the bytes allowed in an RFC 9110 token.
var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
