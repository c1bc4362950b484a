package proxy

import (
	"bufio"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/internal/testpki"
)

// A client that offers a key share only for a group the server does not prefer gets a
// HelloRetryRequest; its second hello names the same server, and the tunnel works.
func TestHelloRetrySameNameSplices(t *testing.T) {
	port, pool := tlsEchoServerWith(t, func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP256} },
		"courier.push.apple.com")
	_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("apple-push", port, true, allowlist.TLSRequired)}, loopbackHosts, nil)
	tc := retryHandshake(t, connectTo(t, addr, "courier.push.apple.com:"+strconv.Itoa(int(port))), pool)
	echoRoundTrip(t, tc)
	dec := rec.wait(t, byAction(events.ActionSplice))
	if dec.SNI != "courier.push.apple.com" {
		t.Errorf("decision event %+v", dec)
	}
}

// The same with a real OpenSSL server, the kind that does not insist on an identical retry.
func TestHelloRetrySameNameOpenSSL(t *testing.T) {
	port, pool := opensslServer(t, "courier.push.apple.com")
	_, addr, _ := testProxy(t, []allowlist.Rule{loopbackRule("apple-push", port, true, allowlist.TLSRequired)}, loopbackHosts, nil)
	retryHandshake(t, connectTo(t, addr, "courier.push.apple.com:"+strconv.Itoa(int(port))), pool)
}

// retryHandshake runs a Go TLS client over c whose first key share (X25519) the P-256-only
// servers above do not take, and checks that the handshake went through a HelloRetryRequest.
func retryHandshake(t *testing.T, c net.Conn, pool *x509.CertPool) *tls.Conn {
	t.Helper()
	tc := tls.Client(c, &tls.Config{ServerName: "courier.push.apple.com", RootCAs: pool,
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}})
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake with a retry: %v", err)
	}
	if !tc.ConnectionState().HelloRetryRequest {
		t.Fatal("the server sent no HelloRetryRequest: the test does not test the retry")
	}
	return tc
}

// A hostile client names an allowed host in its first hello, with no key share so that the
// server must ask again, and another host in the second. OpenSSL would serve the second; the
// proxy must refuse it with an alert and an sni_mismatch event naming the second name.
func TestHelloRetryOtherNameRefused(t *testing.T) {
	port, _ := opensslServer(t, "courier.push.apple.com")
	p := strconv.Itoa(int(port))
	for _, target := range []string{"courier.push.apple.com:" + p, "127.0.0.1:" + p} {
		t.Run(target, func(t *testing.T) {
			_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("apple-push", port, true, allowlist.TLSRequired)}, loopbackHosts, nil)
			br := retryNamingAnother(t, connectTo(t, addr, target))
			for {
				typ, body := readRecord(t, br)
				if typ == 20 {
					continue // the server's own change_cipher_spec
				}
				if typ != 21 || len(body) != 2 || body[1] != 112 {
					t.Fatalf("after a retry naming another host: record type %d %x; want an unrecognized_name alert", typ, body)
				}
				break
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("connection not closed after the alert: %v", err)
			}
			e := rec.wait(t, byAction(events.ActionDeny))
			if e.Reason != "sni_mismatch" || e.SNI != "www.evil.test" {
				t.Errorf("event %+v; want sni_mismatch naming www.evil.test", e)
			}
		})
	}
}

// In report mode the same retry is let through like any refusal by policy: the server's
// answer to the second hello reaches the client, the decision event says allow with what
// enforce would have done (the first refusal, when the first hello was one already), and a
// reload to enforce ends the tunnel, whether the CONNECT named a host or an address.
func TestHelloRetryOtherNameReported(t *testing.T) {
	port, _ := opensslServer(t, "courier.push.apple.com")
	p := strconv.Itoa(int(port))
	rule := loopbackRule("apple-push", port, true, allowlist.TLSRequired)
	report := func(s *Settings) {
		pol, err := allowlist.Compile(allowlist.Spec{Rules: []allowlist.Rule{rule}, Report: true,
			Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, DenyCIDRs: allowlist.DefaultDenyCIDRs})
		if err != nil {
			t.Fatal(err)
		}
		s.Policy = pol
	}
	for _, c := range []struct{ target, first, second string }{
		{"courier.push.apple.com:" + p, "courier.push.apple.com", "www.evil.test"},
		// A name another rule allows on this port: by address and SNI alone the tunnel
		// would pass again.
		{"127.0.0.1:" + p, "courier.push.apple.com", "origin.test"},
		// The first hello is let through by report mode already; so is the retry, on the
		// loopback address that only the rule's CIDR opens (deny_cidrs holds 127.0.0.0/8).
		{"courier.push.apple.com:" + p, "www.evil.test", "courier.push.apple.com"},
	} {
		t.Run(c.target+" "+c.first+" then "+c.second, func(t *testing.T) {
			srv, addr, rec := testProxy(t, nil, loopbackHosts, report)
			br := retryNaming(t, connectTo(t, addr, c.target), c.first, c.second)
			for {
				typ, body := readRecord(t, br)
				if typ == 20 {
					continue
				}
				if typ != 22 || body[0] != 2 {
					t.Fatalf("record type %d %x; want the server's ServerHello", typ, body[:min(len(body), 8)])
				}
				break
			}
			e := rec.wait(t, byAction(events.ActionAllow))
			if e.Reason != "sni_mismatch" || e.SNI != c.second || e.EnforceAction != events.ActionDeny || e.EnforceReason != "sni_mismatch" {
				t.Errorf("event %+v; want allow, sni_mismatch, naming %s, enforce deny sni_mismatch", e, c.second)
			}
			waitFor(t, "the tunnel to open", func() bool { return srv.OpenTunnels() == 1 })
			set := *srv.settings.Load()
			set.Policy = compileLoopback(t, rule)
			if n := srv.revokeCount(&set); n != 1 {
				t.Errorf("a reload to enforce ended %d tunnels, want the one let through", n)
			}
		})
	}
}

// retryNamingAnother sends c a ClientHello for courier.push.apple.com without a key share,
// checks that a HelloRetryRequest comes back, and answers it with a hello for www.evil.test.
func retryNamingAnother(t *testing.T, c net.Conn) *bufio.Reader {
	return retryNaming(t, c, "courier.push.apple.com", "www.evil.test")
}

// retryNaming sends c a ClientHello for first without a key share, checks that a
// HelloRetryRequest comes back, and answers it with a hello for second. It returns the reader
// for what comes next.
func retryNaming(t *testing.T, c net.Conn, first, second string) *bufio.Reader {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(rawHello(t, first, nil)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	typ, body := readRecord(t, br)
	if typ != 22 || len(body) < 38 || body[0] != 2 || string(body[6:38]) != string(hrrRandom) {
		t.Fatalf("want a HelloRetryRequest, got record type %d: %x", typ, body[:min(len(body), 38)])
	}
	key, _ := ecdh.P256().GenerateKey(rand.Reader)
	ccs := []byte{20, 3, 3, 0, 1, 1} // middlebox compatibility, which the proxy skips
	if _, err := c.Write(append(ccs, rawHello(t, second, key.PublicKey().Bytes())...)); err != nil {
		t.Fatal(err)
	}
	return br
}

// A hostile client whose retry keeps the name gets the server's ServerHello.
func TestHelloRetryRawSameName(t *testing.T) {
	port, _ := opensslServer(t, "courier.push.apple.com")
	_, addr, _ := testProxy(t, []allowlist.Rule{loopbackRule("apple-push", port, true, allowlist.TLSRequired)}, loopbackHosts, nil)
	c := connectTo(t, addr, "courier.push.apple.com:"+strconv.Itoa(int(port)))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(rawHello(t, "courier.push.apple.com", nil))
	br := bufio.NewReader(c)
	if typ, body := readRecord(t, br); typ != 22 || string(body[6:38]) != string(hrrRandom) {
		t.Fatalf("want a HelloRetryRequest, got type %d", typ)
	}
	key, _ := ecdh.P256().GenerateKey(rand.Reader)
	c.Write(rawHello(t, "courier.push.apple.com", key.PublicKey().Bytes()))
	for {
		typ, body := readRecord(t, br)
		if typ == 20 {
			continue
		}
		if typ != 22 || body[0] != 2 {
			t.Fatalf("record type %d %x; want the ServerHello", typ, body[:min(len(body), 8)])
		}
		return
	}
}

var hrrRandom = []byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// rawHello builds a TLS 1.3 ClientHello record for name offering only P-256, with a key share
// when p256Key is set and an empty share list (which forces a HelloRetryRequest) otherwise,
// and the extra extensions given as type and data.
func rawHello(t *testing.T, name string, p256Key []byte, extra ...rawExt) []byte {
	t.Helper()
	var b cryptobyte.Builder
	b.AddUint8(22)
	b.AddUint16(0x0301)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8(1)
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16(0x0303)
			b.AddBytes(make([]byte, 32)) // random
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x1301) })
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				ext := func(typ uint16, body func(*cryptobyte.Builder)) {
					b.AddUint16(typ)
					b.AddUint16LengthPrefixed(body)
				}
				ext(0, func(b *cryptobyte.Builder) { // server_name
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
						b.AddUint8(0)
						b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(name)) })
					})
				})
				ext(10, func(b *cryptobyte.Builder) { // supported_groups
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x0017) })
				})
				ext(13, func(b *cryptobyte.Builder) { // signature_algorithms
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x0403); b.AddUint16(0x0804) })
				})
				ext(43, func(b *cryptobyte.Builder) { // supported_versions
					b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x0304) })
				})
				ext(51, func(b *cryptobyte.Builder) { // key_share
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
						if p256Key != nil {
							b.AddUint16(0x0017)
							b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p256Key) })
						}
					})
				})
				for _, e := range extra {
					ext(e.typ, func(b *cryptobyte.Builder) { b.AddBytes(e.data) })
				}
			})
		})
	})
	return b.BytesOrPanic()
}

// rawExt is an extension rawHello adds.
type rawExt struct {
	typ  uint16
	data []byte
}

// A hello with an Encrypted Client Hello extension is decided by its outer name, spliced, and
// the event says ECH was there.
func TestECHHelloDecidedByOuterName(t *testing.T) {
	port, _ := opensslServer(t, "courier.push.apple.com")
	_, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("apple-push", port, true, allowlist.TLSRequired)}, loopbackHosts, nil)
	c := connectTo(t, addr, "courier.push.apple.com:"+strconv.Itoa(int(port)))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	key, _ := ecdh.P256().GenerateKey(rand.Reader)
	// An outer ECHClientHello as GREASE sends it: type 0, HKDF-SHA256/AES-128-GCM, a config id,
	// an encapsulated key and a payload that only the client-facing server could open.
	ech := append([]byte{0, 0, 1, 0, 1, 7, 0, 32}, make([]byte, 32)...)
	ech = append(ech, 0, 64)
	ech = append(ech, make([]byte, 64)...)
	c.Write(rawHello(t, "courier.push.apple.com", key.PublicKey().Bytes(), rawExt{0xfe0d, ech}))
	if typ, body := readRecord(t, bufio.NewReader(c)); typ != 22 || body[0] != 2 {
		t.Fatalf("record type %d; want the ServerHello", typ)
	}
	e := rec.wait(t, byAction(events.ActionSplice))
	if !e.ECH || e.SNI != "courier.push.apple.com" {
		t.Errorf("decision event %+v; want ECH and the outer name", e)
	}
}

// readRecord reads one TLS record.
func readRecord(t *testing.T, r io.Reader) (typ uint8, body []byte) {
	t.Helper()
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatalf("reading a record header: %v", err)
	}
	body = make([]byte, int(h[3])<<8|int(h[4]))
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("reading a record body: %v", err)
	}
	return h[0], body
}

// echoRoundTrip checks that bytes written to c come back.
func echoRoundTrip(t *testing.T, c io.ReadWriter) {
	t.Helper()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
}

// opensslServer starts openssl s_server on loopback for names, P-256 only, so that a client
// offering another group first gets a HelloRetryRequest. It returns the port and a pool that
// trusts the server.
func opensslServer(t *testing.T, names ...string) (uint16, *x509.CertPool) {
	t.Helper()
	pki, err := testpki.New("proxy test CA", time.Hour, names, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyDER, err := x509.MarshalECPrivateKey(pki.LeafKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.LeafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.CADER})...)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-key", key,
		"-groups", "P-256", "-www")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("openssl s_server: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ACCEPT 127.0.0.1:"); ok {
			port, err := strconv.Atoi(a)
			if err != nil {
				t.Fatalf("openssl s_server: %q", sc.Text())
			}
			go io.Copy(io.Discard, out)
			return uint16(port), pki.Pool
		}
	}
	t.Fatalf("openssl s_server printed no ACCEPT line: %v", sc.Err())
	return 0, nil
}
