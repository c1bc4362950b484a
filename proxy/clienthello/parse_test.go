package clienthello

import (
	"errors"
	"io"
	"slices"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// helloSpec describes a synthetic ClientHello with every field under the test's control.
type helloSpec struct {
	sessionID []byte
	suites    []byte
	comp      []byte
	exts      []byte // the raw extensions block content; nil: no block at all
	noBlock   bool
	after     []byte // bytes after the extensions block, inside the hello body
}

func (h helloSpec) bytes() []byte {
	var b cryptobyte.Builder
	b.AddUint8(1)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(0x0303)
		b.AddBytes(make([]byte, 32))
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(h.sessionID) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(h.suites) })
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(h.comp) })
		if !h.noBlock {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(h.exts) })
		}
		b.AddBytes(h.after)
	})
	return b.BytesOrPanic()
}

func okSpec() helloSpec {
	return helloSpec{sessionID: make([]byte, 32), suites: []byte{0x13, 0x01}, comp: []byte{0}}
}

// extBlock frames extensions into an extensions block's content.
func extBlock(exts ...ext) []byte {
	var b cryptobyte.Builder
	for _, e := range exts {
		b.AddUint16(e.typ)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.data) })
	}
	return b.BytesOrPanic()
}

func TestParse(t *testing.T) {
	versions := []byte{4, 0x03, 0x04, 0x03, 0x03}
	tests := []struct {
		name string
		msg  []byte
		want Info
	}{
		{"no extensions block", func() []byte { s := okSpec(); s.noBlock = true; return s.bytes() }(),
			Info{LegacyVersion: 0x0303}},
		{"empty extensions block", okSpec().bytes(), Info{LegacyVersion: 0x0303}},
		{"empty session id", func() []byte { s := okSpec(); s.sessionID = nil; return s.bytes() }(),
			Info{LegacyVersion: 0x0303}},
		{"sni", synthHello([]ext{{0, host("courier.push.apple.com")}}),
			Info{ServerName: "courier.push.apple.com", LegacyVersion: 0x0303}},
		{"sni kept as sent", synthHello([]ext{{0, host("MDM.Example.ORG.")}}),
			Info{ServerName: "MDM.Example.ORG.", LegacyVersion: 0x0303}},
		{"punycode sni", synthHello([]ext{{0, host("xn--bcher-kva.example")}}),
			Info{ServerName: "xn--bcher-kva.example", LegacyVersion: 0x0303}},
		{"other name type skipped", synthHello([]ext{{0, sniExt(7, "opaque", 0, "a.example")}}),
			Info{ServerName: "a.example", LegacyVersion: 0x0303}},
		{"alpn", synthHello([]ext{{16, alpnExt("h2", "http/1.1")}, {0, host("a.example")}}),
			Info{ServerName: "a.example", ALPN: []string{"h2", "http/1.1"}, LegacyVersion: 0x0303}},
		{"alpn without sni", synthHello([]ext{{16, alpnExt("apns-security-v3")}}),
			Info{ALPN: []string{"apns-security-v3"}, LegacyVersion: 0x0303}},
		{"versions and shares", synthHello([]ext{{43, versions}, {51, keyShareExt(32, 0x11ec, 0x001d)}}),
			Info{LegacyVersion: 0x0303, SupportedVersions: []uint16{0x0304, 0x0303}, KeyShareGroups: []uint16{0x11ec, 0x001d}}},
		{"empty key_share list", synthHello([]ext{{51, keyShareExt(1)}}), Info{LegacyVersion: 0x0303}},
		{"ech", synthHello([]ext{{0, host("public.example")}, {0xfe0d, []byte{0, 0, 1, 0, 1, 7}}}),
			Info{ServerName: "public.example", ECH: true, LegacyVersion: 0x0303}},
		{"grease and unknown", synthHello([]ext{{0x0a0a, nil}, {0, host("a.example")}, {0x4a4a, []byte{0}}, {0x1234, make([]byte, 300)}}),
			Info{ServerName: "a.example", LegacyVersion: 0x0303}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.msg)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !equalInfo(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			// An append to one slice must not overwrite the other: they share one allocation.
			if got.SupportedVersions != nil {
				_ = append(got.SupportedVersions, 0xffff)
				if !slices.Equal(got.KeyShareGroups, tt.want.KeyShareGroups) {
					t.Fatal("appending to SupportedVersions changed KeyShareGroups")
				}
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	spec := func(f func(*helloSpec)) []byte { s := okSpec(); f(&s); return s.bytes() }
	withExts := func(exts ...ext) []byte { return synthHello(exts) }
	good := synthHello([]ext{{0, host("a.example")}})
	tests := []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"handshake header only", []byte{1, 0, 0}},  // Read waits for the 4th byte
		{"length past the end", good[:len(good)-1]}, // Read waits for the last byte
		{"bytes after the message", append(slices.Clip(good), 0)},
		{"server hello", append([]byte{2}, good[1:]...)},
		{"short random", []byte{1, 0, 0, 10, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"session id 33", spec(func(s *helloSpec) { s.sessionID = make([]byte, 33) })},
		{"no cipher suites", spec(func(s *helloSpec) { s.suites = nil })},
		{"odd cipher suites", spec(func(s *helloSpec) { s.suites = []byte{0x13, 0x01, 0x13} })},
		{"no compression", spec(func(s *helloSpec) { s.comp = nil })},
		{"byte after extensions", spec(func(s *helloSpec) { s.after = []byte{0} })},
		{"one stray byte instead of a block", spec(func(s *helloSpec) { s.noBlock = true; s.after = []byte{0} })},
		{"extension past the block", spec(func(s *helloSpec) { s.exts = []byte{0, 0, 0, 9, 1} })},
		{"half an extension header", spec(func(s *helloSpec) { s.exts = []byte{0, 0, 0} })},
		{"duplicate sni", withExts(ext{0, host("a.example")}, ext{0, host("a.example")})},
		{"duplicate unknown", withExts(ext{0x1234, nil}, ext{0, host("a.example")}, ext{0x1234, nil})},
		{"duplicate ech", withExts(ext{0xfe0d, []byte{1}}, ext{0xfe0d, []byte{1}})},
		{"empty host name", withExts(ext{0, host("")})},
		{"space in host name", withExts(ext{0, host("a example")})},
		{"nul in host name", withExts(ext{0, host("a.example\x00.evil")})},
		{"del in host name", withExts(ext{0, host("a\x7f")})},
		{"utf-8 host name", withExts(ext{0, host("bücher.example")})},
		{"two host names", withExts(ext{0, sniExt(0, "a.example", 0, "b.example")})},
		{"empty server_name list", withExts(ext{0, sniExt()})},
		{"empty server_name extension", withExts(ext{0, nil})},
		{"server_name without host_name", withExts(ext{0, sniExt(1, "x")})},
		{"bytes after server_name list", withExts(ext{0, append(host("a.example"), 0)})},
		{"truncated server_name entry", withExts(ext{0, []byte{0, 3, 0, 0, 5}})},
		{"empty alpn list", withExts(ext{16, alpnExt()})},
		{"empty alpn name", withExts(ext{16, alpnExt("h2", "")})},
		{"truncated alpn name", withExts(ext{16, []byte{0, 3, 5, 'h', '2'}})},
		{"empty supported_versions", withExts(ext{43, []byte{0}})},
		{"odd supported_versions", withExts(ext{43, []byte{3, 3, 4, 3}})},
		{"bytes after supported_versions", withExts(ext{43, []byte{2, 3, 4, 0}})},
		{"empty key", withExts(ext{51, keyShareExt(0, 0x001d)})},
		{"truncated key_share", withExts(ext{51, []byte{0, 5, 0, 0x1d, 0, 9, 1}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Parse(tt.msg)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v (info %+v), want ErrMalformed", err, info)
			}
			if !equalInfo(info, Info{}) {
				t.Fatalf("a malformed hello leaked info %+v", info)
			}
			// Read must refuse the same hello the same way, or wait for bytes its header promises.
			_, _, err = Read(bytesReader(record(tt.msg)), nil, DefaultMax)
			if len(tt.msg) > 0 && !errors.Is(err, ErrMalformed) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("Read: err %v, want ErrMalformed", err)
			}
		})
	}
}

func TestParseManyExtensions(t *testing.T) {
	// More extensions than the no-allocation array holds must still be checked for duplicates.
	var exts []ext
	for i := range 200 {
		exts = append(exts, ext{uint16(0x2000 + i), nil})
	}
	if _, err := Parse(synthHello(exts)); err != nil {
		t.Fatal(err)
	}
	exts = append(exts, ext{0x2000 + 150, nil})
	if _, err := Parse(synthHello(exts)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("duplicate among 201 extensions: %v", err)
	}
}
