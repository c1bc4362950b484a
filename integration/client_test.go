package integration

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// proxyConn is a client's connection to the proxy after its CONNECT was answered: reads go
// through the reader that parsed the answer, so no byte the proxy sent after it is lost.
type proxyConn struct {
	*net.TCPConn
	r *bufio.Reader
}

func (c *proxyConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// SrcPort is the client's port, which the proxy logs as source.port.
func (c *proxyConn) SrcPort() int { return c.LocalAddr().(*net.TCPAddr).Port }

// ConnectReply is the proxy's answer to a CONNECT.
type ConnectReply struct {
	Status  int
	Line    string // the status line
	Body    string // of a refusal
	SrcPort int    // the client's port (source.port in events)
}

// dialProxy opens a TCP connection to the proxy.
func dialProxy(proxyAddr string) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", proxyAddr, waitLimit)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// readConnectReply reads the status line and header of the proxy's answer, and the body of a
// refusal.
func readConnectReply(br *bufio.Reader) (ConnectReply, error) {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return ConnectReply{}, fmt.Errorf("reading the CONNECT answer: %w", err)
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil {
		return ConnectReply{}, fmt.Errorf("bad status line %q", line)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return ConnectReply{}, fmt.Errorf("reading the CONNECT answer's header: %w", err)
	}
	r := ConnectReply{Status: status, Line: line}
	if status != 200 {
		if n, err := strconv.Atoi(hdr.Get("Content-Length")); err == nil && n >= 0 && n < 1<<20 {
			body := make([]byte, n)
			if _, err := io.ReadFull(br, body); err != nil {
				return r, fmt.Errorf("reading the refusal's body: %w", err)
			}
			r.Body = string(body)
		}
	}
	return r, nil
}

// connectHead is a CONNECT request head for target, with extra header lines (each ending in
// \r\n).
func connectHead(target, extra string) string {
	return "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n" + extra + "\r\n"
}

// connect sends a CONNECT for target and reads the answer. On 200 it returns the open
// connection; otherwise it closes it.
func connect(proxyAddr, target, extraHeader string) (*proxyConn, ConnectReply, error) {
	c, err := dialProxy(proxyAddr)
	if err != nil {
		return nil, ConnectReply{}, err
	}
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, connectHead(target, extraHeader)); err != nil {
		c.Close()
		return nil, ConnectReply{}, err
	}
	br := bufio.NewReader(c)
	r, err := readConnectReply(br)
	r.SrcPort = c.LocalAddr().(*net.TCPAddr).Port
	if err != nil || r.Status != 200 {
		c.Close()
		return nil, r, err
	}
	c.SetDeadline(time.Time{})
	return &proxyConn{TCPConn: c, r: br}, r, nil
}

// mustConnect is connect for a CONNECT the proxy must accept.
func mustConnect(t testing.TB, proxyAddr, target string) *proxyConn {
	t.Helper()
	pc, r, err := connect(proxyAddr, target, "")
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	if r.Status != 200 {
		t.Fatalf("CONNECT %s: %s: %s", target, r.Line, r.Body)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// expectRefusal sends a CONNECT that the proxy must refuse with status.
func expectRefusal(t testing.TB, proxyAddr, target string, status int) ConnectReply {
	t.Helper()
	pc, r, err := connect(proxyAddr, target, "")
	if pc != nil {
		pc.Close()
	}
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	if r.Status != status {
		t.Fatalf("CONNECT %s: got %q (%s), want status %d", target, r.Line, strings.TrimSpace(r.Body), status)
	}
	return r
}

// clientTLS is the Go client configuration: Go's defaults (which send a post-quantum key
// share, a ~1.5 KB ClientHello), trusting the test CA.
func clientTLS(t testing.TB, sni string) *tls.Config {
	return &tls.Config{ServerName: sni, RootCAs: testPKI(t).Pool}
}

// dialTLS opens a tunnel to target and runs a TLS handshake in it with cfg. The CONNECT must be
// accepted; the handshake's error is returned (the proxy may refuse the hello).
func dialTLS(proxyAddr, target string, cfg *tls.Config) (*tls.Conn, *proxyConn, error) {
	pc, r, err := connect(proxyAddr, target, "")
	if err != nil {
		return nil, nil, err
	}
	if r.Status != 200 {
		return nil, nil, fmt.Errorf("CONNECT %s: %s: %s", target, r.Line, strings.TrimSpace(r.Body))
	}
	tc := tls.Client(pc, cfg)
	pc.SetDeadline(time.Now().Add(waitLimit))
	err = tc.Handshake()
	pc.SetDeadline(time.Time{})
	if err != nil {
		pc.Close()
		return nil, pc, err
	}
	return tc, pc, nil
}

// mustDialTLS is dialTLS for a tunnel that must work.
func mustDialTLS(t testing.TB, proxyAddr, target string, cfg *tls.Config) (*tls.Conn, *proxyConn) {
	t.Helper()
	tc, pc, err := dialTLS(proxyAddr, target, cfg)
	if err != nil {
		t.Fatalf("TLS through the proxy to %s: %v", target, err)
	}
	t.Cleanup(func() { pc.Close() })
	return tc, pc
}

// roundTrip writes msg and reads the same number of bytes back, which must equal msg (an echo
// origin).
func roundTrip(c net.Conn, msg []byte) error {
	c.SetDeadline(time.Now().Add(waitLimit))
	defer c.SetDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	_, rerr := io.ReadFull(c, got)
	if werr := <-errc; werr != nil {
		return fmt.Errorf("write: %w", werr)
	}
	if rerr != nil {
		return fmt.Errorf("read: %w", rerr)
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo differs from what was sent")
	}
	return nil
}

func mustRoundTrip(t testing.TB, c net.Conn, msg []byte) {
	t.Helper()
	if err := roundTrip(c, msg); err != nil {
		t.Fatalf("round trip of %d bytes through the tunnel: %v", len(msg), err)
	}
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// closeTLSCleanly ends a TLS tunnel the way a well-behaved client does: close_notify and FIN,
// then read until the origin's close_notify and FIN, then close. Both directions of the tunnel
// then end with EOF.
func closeTLSCleanly(tc *tls.Conn, pc *proxyConn) error {
	if err := tc.CloseWrite(); err != nil {
		return fmt.Errorf("close_notify: %w", err)
	}
	if err := pc.CloseWrite(); err != nil {
		return fmt.Errorf("FIN: %w", err)
	}
	pc.SetReadDeadline(time.Now().Add(waitLimit))
	_, err := io.Copy(io.Discard, tc)
	pc.Close()
	if err != nil {
		return fmt.Errorf("reading to the origin's close: %w", err)
	}
	return nil
}

// expectClosed reads from c until the proxy closes it and returns what was read before; a
// reset counts as closed too.
func expectClosed(t testing.TB, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the proxy did not close the connection within %v", waitLimit)
	}
	return b
}

// recordingConn remembers what the first Write carried (the ClientHello of a TLS client).
type recordingConn struct {
	net.Conn
	once  sync.Once
	first []byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.once.Do(func() { c.first = bytes.Clone(p) })
	return c.Conn.Write(p)
}
