package testpki

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// A Go client that trusts only Pool completes a handshake with a server presenting Leaf, for
// the name asked, and refuses another name.
func TestHandshake(t *testing.T) {
	pki, err := New("testpki CA", time.Hour, []string{"a.test", "*.b.test"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pki.Leaf}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(io.Discard, c) }()
		}
	}()
	for name, ok := range map[string]bool{"a.test": true, "x.b.test": true, "127.0.0.1": true, "c.test": false} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pki.Pool, ServerName: name})
		if (err == nil) != ok {
			t.Errorf("handshake for %q: %v, want success %v", name, err, ok)
		}
		if c != nil {
			c.Close()
		}
	}
}
