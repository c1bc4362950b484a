package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// errNetHTTPRefuses marks a plain-HTTP request head that net/http's server would refuse itself.
var errNetHTTPRefuses = errors.New("malformed HTTP request")

// checkAsNetHTTP parses a plain-HTTP request head the way the embedded http.Server will and
// refuses what that server would answer on its own (400, 417, 501: two Host headers, a bad
// Host, no Host in HTTP/1.1, a negative Content-Length, an unknown Transfer-Encoding, control
// bytes in the target, an Expect other than 100-continue), so that every refusal is the
// proxy's, with its event. The checks follow net/http's conn.readRequest and its Expect
// handling; FuzzPlainHeadAsNetHTTP holds them to a real net/http server.
func checkAsNetHTTP(head []byte) error {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return fmt.Errorf("%w: %v", errNetHTTPRefuses, err)
	}
	hosts := hostHeaders(head) // ReadRequest has taken Host out of req.Header
	switch {
	case req.ProtoAtLeast(1, 1) && len(hosts) == 0:
		return fmt.Errorf("%w: missing required Host header", errNetHTTPRefuses)
	case len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]):
		return fmt.Errorf("%w: malformed Host header", errNetHTTPRefuses)
	}
	for name, values := range req.Header {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf("%w: invalid header name", errNetHTTPRefuses)
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("%w: invalid header value", errNetHTTPRefuses)
			}
		}
	}
	if e := req.Header.Get("Expect"); e != "" && !strings.EqualFold(e, "100-continue") {
		return fmt.Errorf("%w: unsupported Expect", errNetHTTPRefuses)
	}
	return nil
}

// hostHeaders returns the values of the Host header lines of a head that readHead checked,
// trimmed as net/textproto trims them.
func hostHeaders(head []byte) []string {
	var hosts []string
	lines := bytes.Split(head, []byte("\n"))
	for _, line := range lines[1:] { // the request line first
		name, value, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\r")), []byte(":"))
		if ok && strings.EqualFold(string(name), "host") {
			hosts = append(hosts, strings.Trim(string(value), " \t"))
		}
	}
	return hosts
}
