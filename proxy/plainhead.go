package proxy

import (
	"bytes"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Errors of a plain-HTTP request head that is well formed but ambiguous: net/http would
// silently pick one reading (it keeps the URI's host, drops a Content-Length beside chunked),
// while the origin or the upstream might pick another. Each is a 400 and a bad_request event.
var (
	errTwoHosts       = errors.New("more than one Host header")
	errHostMismatch   = errors.New("the Host header names another host than the request URI")
	errLengthAndChunk = errors.New("Content-Length together with Transfer-Encoding")
	errBadLength      = errors.New("malformed or conflicting Content-Length")
	errBadCoding      = errors.New("a Transfer-Encoding other than chunked")
	errNotHTTPURI     = errors.New("a proxy request URI must be http://HOST[:PORT]/...")
)

// bodyFraming is how the body after a request head is delimited.
type bodyFraming struct {
	length  int64 // Content-Length; 0 without a body
	chunked bool  // Transfer-Encoding: chunked
}

// checkPlainHead checks a plain-HTTP request head that readHead already found well formed
// (its lines are whole, its header names tokens) and returns its body's framing. target is
// the request target. Origin-form requests (not proxy requests: the PAC file) are checked for
// Host and framing only.
func checkPlainHead(head []byte, target string) (bodyFraming, error) {
	f, err := checkFraming(head, target)
	if err == nil {
		err = checkAsNetHTTP(head) // and nothing net/http would answer itself, unlogged
	}
	return f, err
}

// checkFraming is checkPlainHead's own reading of the head: hosts and body framing.
func checkFraming(head []byte, target string) (bodyFraming, error) {
	var (
		f        bodyFraming
		hosts    int
		host     string
		lengths  []string
		encoding bool
	)
	lines := bytes.Split(head, []byte("\n"))
	for _, line := range lines[1:] { // after the request line
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		v := strings.TrimSpace(string(value))
		switch {
		case asciiEqualFold(name, "Host"):
			hosts++
			host = v
		case asciiEqualFold(name, "Content-Length"):
			lengths = append(lengths, strings.Split(v, ",")...)
		case asciiEqualFold(name, "Transfer-Encoding"):
			if encoding || !strings.EqualFold(v, "chunked") {
				return f, errBadCoding
			}
			encoding = true
		}
	}
	if hosts > 1 {
		return f, errTwoHosts
	}
	if encoding && len(lengths) > 0 {
		return f, errLengthAndChunk
	}
	f.chunked = encoding
	for i, l := range lengths {
		l = strings.TrimSpace(l)
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 || l[0] == '+' || (i > 0 && n != f.length) {
			return f, errBadLength
		}
		f.length = n
	}
	if strings.HasPrefix(target, "/") || target == "*" {
		return f, nil // origin-form: served by the proxy itself, never forwarded
	}
	u, err := url.ParseRequestURI(target)
	if err != nil || !strings.EqualFold(u.Scheme, "http") || u.Host == "" {
		return f, errNotHTTPURI
	}
	if hosts == 1 && !sameAuthority(host, u.Host) {
		return f, errHostMismatch
	}
	return f, nil
}

// sameAuthority reports whether two HOST[:PORT] authorities of an http URI name the same
// host and port: case-insensitive, port 80 when absent.
func sameAuthority(a, b string) bool {
	ha, pa := splitAuthority(a)
	hb, pb := splitAuthority(b)
	return strings.EqualFold(ha, hb) && pa == pb
}

func splitAuthority(s string) (host, port string) {
	if _, _, ok := strings.Cut(s, "@"); ok {
		s = s[strings.LastIndexByte(s, '@')+1:]
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		h, p = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), ""
	}
	if p == "" {
		p = "80"
	}
	return strings.TrimSuffix(h, "."), p
}

// asciiEqualFold reports whether the header name b is s, ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i]|0x20, s[i]|0x20
		if c != d {
			return false
		}
	}
	return true
}
