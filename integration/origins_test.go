package integration

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/internal/testpki"
)

// certNames are the names the origins' certificate is valid for: the tests map them to
// 127.0.0.1 with the proxy's hosts list.
var certNames = []string{
	"courier.push.apple.com", "*.push.apple.com", "www.apple.com",
	"mtalk.google.com", "mtalk4.google.com", "echo.mdm.test", "*.mdm.test", "localhost",
}

// PKI is a test certificate authority and one leaf certificate signed by it.
type PKI struct {
	CAPath string         // PEM file of the CA, for curl --cacert and openssl -CAfile
	Pool   *x509.CertPool // the CA, for Go clients
	Leaf   tls.Certificate
}

var (
	pkiOnce sync.Once
	pkiVal  *PKI
	pkiErr  error
)

// testPKI returns the process-wide test PKI, making it on first use.
func testPKI(t testing.TB) *PKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = makePKI() })
	if pkiErr != nil {
		t.Fatalf("making the test PKI: %v", pkiErr)
	}
	return pkiVal
}

func makePKI() (*PKI, error) {
	p, err := testpki.New("mdmproxy integration test CA", 24*time.Hour, certNames, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(sharedDir, "pki-")
	if err != nil {
		return nil, err
	}
	caPath := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.CADER}), 0o644); err != nil {
		return nil, err
	}
	return &PKI{CAPath: caPath, Pool: p.Pool, Leaf: p.Leaf}, nil
}

// Origin is a TCP server on 127.0.0.1 started by a test. It closes its listener and every
// connection it accepted when the test ends, and waits for its handlers.
type Origin struct {
	Port     int
	Accepted atomic.Int64

	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startOrigin serves each accepted connection with handle, then closes it.
func startOrigin(t testing.TB, handle func(net.Conn)) *Origin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &Origin{Port: ln.Addr().(*net.TCPAddr).Port, ln: ln, conns: map[net.Conn]struct{}{}}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.Accepted.Add(1)
			o.mu.Lock()
			o.conns[c] = struct{}{}
			o.mu.Unlock()
			o.wg.Add(1)
			go func() {
				defer o.wg.Done()
				defer func() {
					o.mu.Lock()
					delete(o.conns, c)
					o.mu.Unlock()
					c.Close()
				}()
				handle(c)
			}()
		}
	}()
	t.Cleanup(o.Close)
	return o
}

// Close stops the origin and waits for its handlers to return.
func (o *Origin) Close() {
	o.ln.Close()
	o.mu.Lock()
	for c := range o.conns {
		c.Close()
	}
	o.mu.Unlock()
	o.wg.Wait()
}

// startTLSOrigin is startOrigin speaking TLS with the test certificate.
func startTLSOrigin(t testing.TB, handle func(*tls.Conn)) *Origin {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{testPKI(t).Leaf}}
	return startOrigin(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		c.SetDeadline(time.Now().Add(waitLimit))
		if err := tc.Handshake(); err != nil {
			return
		}
		c.SetDeadline(time.Time{})
		handle(tc)
		tc.Close()
	})
}

// tlsEcho echoes until the client's close_notify or EOF; the origin then closes (close_notify
// and FIN).
func tlsEcho(c *tls.Conn) { io.Copy(c, c) }

// startTLSEchoOrigin is a TLS echo server.
func startTLSEchoOrigin(t testing.TB) *Origin { return startTLSOrigin(t, tlsEcho) }

// startHTTPSOrigin serves body on every path over HTTPS (HTTP/1.1).
func startHTTPSOrigin(t testing.TB, body string) *Origin {
	t.Helper()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, body)
		}),
		ReadHeaderTimeout: waitLimit,
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{testPKI(t).Leaf}, NextProtos: []string{"http/1.1"}}
	// The Origin only provides the listener and the cleanup; http.Server serves on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &Origin{Port: ln.Addr().(*net.TCPAddr).Port, ln: ln, conns: map[net.Conn]struct{}{}}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		srv.Serve(tls.NewListener(countingListener{ln, &o.Accepted}, cfg))
	}()
	t.Cleanup(func() {
		srv.Close()
		o.wg.Wait()
	})
	return o
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// plainEcho echoes bytes until EOF, then closes.
func plainEcho(c net.Conn) { io.Copy(c, c) }

// deadPort returns a loopback port nothing listens on (it was bound a moment ago and closed).
func deadPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
