package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// Kind is what a client speaks to the origin.
type Kind int

const (
	Plain Kind = iota // raw bytes to the plain origin (a tls: optional rule)
	TLS               // TLS to the TLS origin
)

func (k Kind) String() string {
	if k == TLS {
		return "TLS"
	}
	return "plain"
}

// Endpoints are where the origins listen and the names they are reached by.
type Endpoints struct {
	PlainAddr, TLSAddr string // 127.0.0.1:port
	HTTPAddr           string // the plain-HTTP origin (StartHTTPOrigin); "" when not started
	PKI                *PKI
}

func (e *Endpoints) addr(k Kind) string {
	if k == TLS {
		return e.TLSAddr
	}
	return e.PlainAddr
}

// Authority is the CONNECT target for kind k: the origin's name and port.
func (e *Endpoints) Authority(k Kind) string {
	_, port, _ := net.SplitHostPort(e.addr(k))
	name := PlainName
	if k == TLS {
		name = TLSName
	}
	return net.JoinHostPort(name, port)
}

// Port is the origin's port for kind k.
func (e *Endpoints) Port(k Kind) int {
	_, port, _ := net.SplitHostPort(e.addr(k))
	p, _ := strconv.Atoi(port)
	return p
}

// Target is one way to reach the origins: directly, or through a proxy.
type Target struct {
	Name  string // direct, mdmproxy, squid, haproxy
	Label string // for the tables
	// Open returns a connection whose bytes reach the origin of kind k: the TLS handshake, if
	// any, is the caller's.
	Open func(ctx context.Context, k Kind) (net.Conn, error)
	// PID is the process that carries the tunnels, for /proc readings; 0 for direct.
	PID func() int
}

var dialer = &net.Dialer{KeepAlive: -1}

// Direct reaches the origins without a proxy.
func Direct(e *Endpoints) *Target {
	return &Target{
		Name: "direct", Label: "direct",
		Open: func(ctx context.Context, k Kind) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", e.addr(k))
		},
		PID: func() int { return 0 },
	}
}

// ConnectProxy reaches the origins with an HTTP CONNECT through proxyAddr, by name. The client
// waits for the 200 before it sends anything else, as browsers and OS push clients do.
func ConnectProxy(name, label string, proxyAddr func() string, e *Endpoints, pid func() int) *Target {
	return ConnectProxyVia(dialer.DialContext, name, label, proxyAddr, e, pid)
}

// ConnectProxyVia is ConnectProxy with the connections to the proxy opened by dial (e.g. from
// another network namespace).
func ConnectProxyVia(dial func(ctx context.Context, network, addr string) (net.Conn, error), name, label string, proxyAddr func() string, e *Endpoints, pid func() int) *Target {
	return &Target{
		Name: name, Label: label, PID: pid,
		Open: func(ctx context.Context, k Kind) (net.Conn, error) {
			c, err := dial(ctx, "tcp", proxyAddr())
			if err != nil {
				return nil, err
			}
			if dl, ok := ctx.Deadline(); ok {
				c.SetDeadline(dl)
			}
			auth := e.Authority(k)
			if _, err := io.WriteString(c, "CONNECT "+auth+" HTTP/1.1\r\nHost: "+auth+"\r\n\r\n"); err != nil {
				c.Close()
				return nil, err
			}
			conn, err := readConnectResponse(c)
			if err != nil {
				c.Close()
				return nil, err
			}
			c.SetDeadline(time.Time{})
			return conn, nil
		},
	}
}

// Forwarder reaches the origins through a TCP forwarder listening on one port per kind.
func Forwarder(name, label string, plainAddr, tlsAddr func() string, pid func() int) *Target {
	return &Target{
		Name: name, Label: label, PID: pid,
		Open: func(ctx context.Context, k Kind) (net.Conn, error) {
			a := plainAddr()
			if k == TLS {
				a = tlsAddr()
			}
			return dialer.DialContext(ctx, "tcp", a)
		},
	}
}

// readConnectResponse reads the proxy's answer up to its blank line and checks for a 200. The
// origins speak only when spoken to, so nothing follows the head; should something, it is kept.
func readConnectResponse(c net.Conn) (net.Conn, error) {
	var buf [1024]byte
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
			f := bytes.Fields(line)
			if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/1.")) || string(f[1]) != "200" {
				return nil, fmt.Errorf("CONNECT refused: %q", line)
			}
			if rest := buf[i+4 : n]; len(rest) > 0 {
				return &prefixConn{Conn: c, prefix: append([]byte(nil), rest...)}, nil
			}
			return c, nil
		}
		if err != nil {
			return nil, fmt.Errorf("CONNECT response: %w", err)
		}
		if n == len(buf) {
			return nil, errors.New("CONNECT response head too long")
		}
	}
}

type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// Session is one open connection to an origin, TLS already handshaken when it is TLS.
type Session struct {
	raw  net.Conn
	conn io.ReadWriter
}

// OpenSession opens a connection through t and, for TLS, does the handshake.
func OpenSession(ctx context.Context, t *Target, e *Endpoints, k Kind) (*Session, error) {
	c, err := t.Open(ctx, k)
	if err != nil {
		return nil, err
	}
	s := &Session{raw: c, conn: c}
	if k == TLS {
		tc := tls.Client(c, e.PKI.ClientConfig(TLSName))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		s.conn = tc
	}
	return s, nil
}

// Ping does one round trip: pingLen bytes each way.
func (s *Session) Ping(deadline time.Time) error {
	s.raw.SetDeadline(deadline)
	defer s.raw.SetDeadline(time.Time{})
	var b [pingLen]byte
	for i := range b {
		b[i] = opPing
	}
	if _, err := s.conn.Write(b[:]); err != nil {
		return err
	}
	if _, err := io.ReadFull(s.conn, b[:]); err != nil {
		return err
	}
	if !bytes.Equal(b[:], bytes.Repeat([]byte{opPong}, pingLen)) {
		return fmt.Errorf("ping answered with %q", b[:])
	}
	return nil
}

// Fetch asks the origin for n bytes and reads them into buf, discarding them.
func (s *Session) Fetch(n int64, buf []byte) error {
	var req [9]byte
	req[0] = opBulk
	binary.BigEndian.PutUint64(req[1:], uint64(n))
	if _, err := s.conn.Write(req[:]); err != nil {
		return err
	}
	for n > 0 {
		m, err := s.conn.Read(buf)
		n -= int64(m)
		if err != nil {
			if n > 0 {
				return fmt.Errorf("%d bytes short: %w", n, err)
			}
			break
		}
	}
	return nil
}

// Close closes the session (a TLS close_notify first).
func (s *Session) Close() error {
	if c, ok := s.conn.(io.Closer); ok {
		return c.Close()
	}
	return s.raw.Close()
}
