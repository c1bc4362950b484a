package clienthello

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// goHello captures the records a crypto/tls client writes as its ClientHello, over net.Pipe. It reads
// them with its own minimal record loop (not with Read) so the tests do not check Read against itself.
func goHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Client(client, cfg).Handshake() // fails once the server side closes
		client.Close()
	}()
	defer func() { server.Close(); <-done }()
	server.SetDeadline(time.Now().Add(10 * time.Second))

	var raw []byte
	var msg []byte
	for len(msg) < 4 || len(msg) < 4+int(msg[1])<<16|int(msg[2])<<8|int(msg[3]) {
		var hdr [5]byte
		if _, err := io.ReadFull(server, hdr[:]); err != nil {
			t.Fatalf("capturing hello header: %v", err)
		}
		body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
		if _, err := io.ReadFull(server, body); err != nil {
			t.Fatalf("capturing hello body: %v", err)
		}
		raw = append(append(raw, hdr[:]...), body...)
		msg = append(msg, body...)
	}
	return raw
}

// goConfigs are the client configurations the tests capture hellos from.
func goConfigs() map[string]*tls.Config {
	many := make([]string, 100)
	for i := range many {
		many[i] = fmt.Sprintf("proto-%012d", i) // 100 x 19 bytes: pushes the hello past 2 KB
	}
	return map[string]*tls.Config{
		"default":   {ServerName: "courier.push.apple.com"},
		"alpn":      {ServerName: "mdm.example.org", NextProtos: []string{"h2", "http/1.1"}},
		"no-sni":    {ServerName: "192.0.2.1", InsecureSkipVerify: true}, // an IP is never sent as SNI
		"tls12":     {ServerName: "legacy.example.com", MaxVersion: tls.VersionTLS12},
		"many-alpn": {ServerName: "big.example.net", NextProtos: many},
	}
}

// records re-frames the handshake message carried by raw into TLS records whose bodies have the given
// sizes (the last size is repeated until the message is used up).
func records(t testing.TB, raw []byte, sizes ...int) []byte {
	t.Helper()
	msg := message(t, raw)
	var out []byte
	for i := 0; len(msg) > 0; i++ {
		n := sizes[min(i, len(sizes)-1)]
		n = min(n, len(msg))
		out = append(out, 22, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

// splitInto re-frames raw's handshake message into exactly n records of about equal size.
func splitInto(t testing.TB, raw []byte, n int) []byte {
	t.Helper()
	msg := message(t, raw)
	size := (len(msg) + n - 1) / n
	out := records(t, raw, size)
	if got := countRecords(out); got != n {
		t.Fatalf("splitInto: %d records, want %d", got, n)
	}
	return out
}

// message concatenates the record bodies of raw, as a reference for Read's reassembly.
func message(t testing.TB, raw []byte) []byte {
	t.Helper()
	var msg []byte
	for len(raw) > 0 {
		if len(raw) < 5 {
			t.Fatalf("message: %d stray bytes", len(raw))
		}
		n := int(binary.BigEndian.Uint16(raw[3:]))
		msg = append(msg, raw[5:5+n]...)
		raw = raw[5+n:]
	}
	return msg
}

func countRecords(raw []byte) int {
	n := 0
	for len(raw) >= 5 {
		raw = raw[5+int(binary.BigEndian.Uint16(raw[3:])):]
		n++
	}
	return n
}

// ext is one extension of a synthetic hello.
type ext struct {
	typ  uint16
	data []byte
}

// synthHello builds a ClientHello handshake message with the given extensions (none at all, not even
// an empty block, when exts is nil).
func synthHello(exts []ext) []byte {
	var b cryptobyte.Builder
	b.AddUint8(1)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(0x0303)
		b.AddBytes(make([]byte, 32))
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x1301); b.AddUint16(0xc02f) })
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
		if exts == nil {
			return
		}
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range exts {
				b.AddUint16(e.typ)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.data) })
			}
		})
	})
	return b.BytesOrPanic()
}

// record wraps a handshake message in one TLS record.
func record(msg []byte) []byte {
	return append([]byte{22, 3, 1, byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

// sniExt builds server_name extension data with the given (name_type, name) entries.
func sniExt(entries ...any) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for i := 0; i < len(entries); i += 2 {
			b.AddUint8(uint8(entries[i].(int)))
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(entries[i+1].(string))) })
		}
	})
	return b.BytesOrPanic()
}

func host(name string) []byte { return sniExt(0, name) }

// alpnExt builds ALPN extension data.
func alpnExt(protos ...string) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, p := range protos {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p)) })
		}
	})
	return b.BytesOrPanic()
}

// keyShareExt builds key_share extension data with a 1-byte key per group (0 keeps the key empty).
func keyShareExt(keyLen int, groups ...uint16) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, g := range groups {
			b.AddUint16(g)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, keyLen)) })
		}
	})
	return b.BytesOrPanic()
}

// countingReader counts the bytes taken from r, to prove Read consumed no more than it returned.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
