package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Upstream is the school's own proxy (its content filter), to which default_action upstream
// hands every flow no rule allows. Build one with ParseUpstream. Its credentials are kept only
// as the ready Proxy-Authorization value: String, events, errors and logs see HOST:PORT.
type Upstream struct {
	addr    string // HOST:PORT
	auth    string // "Basic ..." from the URL's user info; "" when it has none
	sendXFF bool
}

// ParseUpstream parses the upstream key, http://[user:password@]HOST:PORT. forwardedFor is
// upstream_forwarded_for: send the client's address in X-Forwarded-For. Its errors never
// repeat the URL, which may hold a password.
func ParseUpstream(raw string, forwardedFor bool) (*Upstream, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.Port() == "" {
		return nil, errors.New("upstream: not an http://HOST:PORT URL")
	}
	up := &Upstream{addr: u.Host, sendXFF: forwardedFor}
	if u.User != nil {
		pass, _ := u.User.Password()
		up.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass))
	}
	return up, nil
}

// String is the upstream's HOST:PORT, never its credentials.
func (u *Upstream) String() string { return u.addr }

// URL is the upstream as a proxy URL for an http.Transport, with its credentials (the
// transport sends them as Proxy-Authorization on plain requests).
func (u *Upstream) proxyURL() *url.URL { return &url.URL{Scheme: "http", Host: u.addr} }

// maxRelayedBody bounds the body of an upstream refusal relayed to the client (an error page).
const maxRelayedBody = 64 << 10

// upstreamTunnel is an open CONNECT tunnel through the upstream.
type upstreamTunnel struct {
	conn  net.Conn
	ahead []byte // bytes the upstream sent past its 2xx: the destination's first bytes
}

// upstreamRefusal is the upstream's answer other than 2xx, ready to relay to the client.
type upstreamRefusal struct {
	status int
	resp   []byte // a whole closing HTTP/1.1 response
}

func (r *upstreamRefusal) Error() string {
	return "the upstream proxy answered " + strconv.Itoa(r.status)
}

// connect asks the upstream for a tunnel to target (HOST:PORT, as the client sent it). The
// client's address goes in X-Forwarded-For unless upstream_forwarded_for is off; the client's
// own Proxy-Authorization (clientAuth) is passed on only when the URL has no credentials. A
// refusal is returned as *upstreamRefusal. ctx bounds the dial and the upstream's answer.
func (u *Upstream) connect(ctx context.Context, dial dialFunc, target string, client netip.Addr, clientAuth string, maxHead int) (*upstreamTunnel, error) {
	c, err := dial(ctx, "tcp", u.addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	var b strings.Builder
	b.WriteString("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n")
	if v := u.credentials(clientAuth); v != "" {
		b.WriteString("Proxy-Authorization: " + v + "\r\n")
	}
	if v := u.forwardedFor(client); v != "" {
		b.WriteString("X-Forwarded-For: " + v + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		c.Close()
		return nil, err
	}
	// The limit bounds the head; the reader's buffer holds what came past it.
	br := bufio.NewReaderSize(io.LimitReader(c, int64(maxHead)+maxRelayedBody), 4096)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		if isTimeout(err) {
			return nil, err
		}
		return nil, fmt.Errorf("reading the upstream proxy's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		defer c.Close()
		return nil, u.refusal(resp)
	}
	t := &upstreamTunnel{conn: c}
	if n := br.Buffered(); n > 0 {
		t.ahead, _ = br.Peek(n)
		t.ahead = append([]byte(nil), t.ahead...)
	}
	c.SetDeadline(time.Time{})
	return t, nil
}

// credentials is the Proxy-Authorization a request to the upstream carries: the URL's, or
// when it has none the client's own (clientAuth, "" when it sent none).
func (u *Upstream) credentials(clientAuth string) string {
	if u.auth != "" {
		return u.auth
	}
	return clientAuth
}

// forwardedFor is the X-Forwarded-For a request to the upstream carries: the client's
// address, or "" with upstream_forwarded_for off.
func (u *Upstream) forwardedFor(client netip.Addr) string {
	if !u.sendXFF || !client.IsValid() {
		return ""
	}
	return client.String()
}

// refusal turns the upstream's non-2xx answer into the response relayed to the client: its
// status, its headers without the hop-by-hop ones (Proxy-Authenticate stays: a 407 challenge
// is for the client when the client authenticates), and a body of at most maxRelayedBody.
// A 407 while the URL carries credentials is the proxy's own misconfiguration, not the
// client's: it becomes a 502.
func (u *Upstream) refusal(resp *http.Response) *upstreamRefusal {
	if resp.StatusCode == http.StatusProxyAuthRequired && u.auth != "" {
		return &upstreamRefusal{status: http.StatusBadGateway, resp: statusResponse(http.StatusBadGateway,
			"the upstream proxy refused the configured credentials")}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxRelayedBody))
	h := resp.Header.Clone()
	removeHopByHop(h)
	h.Del("Content-Length")
	var b strings.Builder
	b.WriteString("HTTP/1.1 " + strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode) + "\r\n")
	h.Write(&b)
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n")
	b.Write(body)
	return &upstreamRefusal{status: resp.StatusCode, resp: []byte(b.String())}
}

// hopByHop are the headers of one connection (RFC 9110 7.6.1), never passed on. Proxy-
// Authenticate is kept on responses to clients that authenticate to the upstream themselves.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// removeHopByHop removes the hop-by-hop headers and those named in Connection.
func removeHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

// statusResponse is a complete closing response with a one-line text body.
func statusResponse(status int, msg string) []byte {
	body := "mdmproxy: " + msg + "\n"
	return []byte("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Connection: close\r\n\r\n" + body)
}

// dialFunc opens a connection, like (*net.Dialer).DialContext.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)
