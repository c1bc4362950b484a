package clienthello

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"testing"
	"testing/iotest"
	"time"
)

// checkConsumed asserts the invariant every Read result keeps: raw is exactly what was taken from
// the input, a prefix of it.
func checkConsumed(t *testing.T, input, raw []byte, cr *countingReader) {
	t.Helper()
	if cr.n != len(raw) {
		t.Fatalf("consumed %d bytes from the reader, raw has %d", cr.n, len(raw))
	}
	if !bytes.Equal(raw, input[:len(raw)]) {
		t.Fatalf("raw is not the prefix of the input it claims to be")
	}
}

func TestReadGoHellos(t *testing.T) {
	for name, cfg := range goConfigs() {
		raw := goHello(t, cfg)
		want, err := Parse(message(t, raw))
		if err != nil {
			t.Fatalf("%s: Parse: %v", name, err)
		}
		inputs := map[string][]byte{
			"whole":          raw,
			"16 records":     splitInto(t, raw, 16),
			"1-byte records": records(t, raw, 1),
			"header split":   records(t, raw, 2, 1, 3, 500), // the 4-byte handshake header spans 3 records
		}
		readers := map[string]func([]byte) io.Reader{
			"whole":    func(b []byte) io.Reader { return bytes.NewReader(b) },
			"1-byte":   func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
			"half":     func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
			"data-eof": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
		}
		for iname, input := range inputs {
			for rname, mk := range readers {
				t.Run(name+"/"+iname+"/"+rname, func(t *testing.T) {
					cr := &countingReader{r: mk(input)}
					info, got, err := Read(cr, nil, DefaultMax)
					if err != nil {
						t.Fatalf("Read: %v", err)
					}
					if !bytes.Equal(got, input) {
						t.Fatalf("raw differs from the bytes fed in (%d vs %d bytes)", len(got), len(input))
					}
					checkConsumed(t, input, got, cr)
					if !equalInfo(info, want) {
						t.Fatalf("info = %+v, want %+v", info, want)
					}
				})
			}
		}
	}
}

func TestGoHelloFields(t *testing.T) {
	cfgs := goConfigs()
	tests := []struct {
		cfg        string
		serverName string
		alpn       []string
		minLen     int
		tls13      bool
	}{
		{"default", "courier.push.apple.com", nil, 1200, true},
		{"alpn", "mdm.example.org", []string{"h2", "http/1.1"}, 1200, true},
		{"no-sni", "", nil, 1200, true},
		{"tls12", "legacy.example.com", nil, 100, false},
		{"many-alpn", "big.example.net", cfgs["many-alpn"].NextProtos, 2048, true},
	}
	for _, tt := range tests {
		t.Run(tt.cfg, func(t *testing.T) {
			raw := goHello(t, cfgs[tt.cfg])
			if len(raw) < tt.minLen {
				t.Fatalf("hello is %d bytes, want >= %d", len(raw), tt.minLen)
			}
			info, _, err := Read(bytes.NewReader(raw), nil, DefaultMax)
			if err != nil {
				t.Fatal(err)
			}
			if info.ServerName != tt.serverName || !slices.Equal(info.ALPN, tt.alpn) {
				t.Fatalf("ServerName %q ALPN %q, want %q %q", info.ServerName, info.ALPN, tt.serverName, tt.alpn)
			}
			if info.LegacyVersion != tls.VersionTLS12 || info.ECH {
				t.Fatalf("LegacyVersion %#x ECH %v", info.LegacyVersion, info.ECH)
			}
			if tt.tls13 {
				if !slices.Contains(info.SupportedVersions, tls.VersionTLS13) {
					t.Fatalf("SupportedVersions %#x lacks TLS 1.3", info.SupportedVersions)
				}
				// Go 1.26 defaults: a hybrid post-quantum share and a classic one.
				if !slices.Contains(info.KeyShareGroups, uint16(tls.X25519MLKEM768)) ||
					!slices.Contains(info.KeyShareGroups, uint16(tls.X25519)) {
					t.Fatalf("KeyShareGroups %#x", info.KeyShareGroups)
				}
			} else if slices.Contains(info.SupportedVersions, tls.VersionTLS13) || info.KeyShareGroups != nil {
				t.Fatalf("TLS 1.2 hello reports %#x / %#x", info.SupportedVersions, info.KeyShareGroups)
			}
		})
	}
}

// TestAgainstCryptoTLS compares Parse with what crypto/tls's own server sees in the same hello.
func TestAgainstCryptoTLS(t *testing.T) {
	for name, cfg := range goConfigs() {
		t.Run(name, func(t *testing.T) {
			raw := goHello(t, cfg)
			info, _, err := Read(bytes.NewReader(raw), nil, DefaultMax)
			if err != nil {
				t.Fatal(err)
			}
			chi := serverView(t, raw)
			if info.ServerName != chi.ServerName || !slices.Equal(info.ALPN, chi.SupportedProtos) {
				t.Fatalf("ours %q %q, crypto/tls %q %q", info.ServerName, info.ALPN, chi.ServerName, chi.SupportedProtos)
			}
			if info.SupportedVersions != nil && !slices.Equal(info.SupportedVersions, chi.SupportedVersions) {
				t.Fatalf("versions ours %#x, crypto/tls %#x", info.SupportedVersions, chi.SupportedVersions)
			}
		})
	}
}

// serverView feeds raw to a crypto/tls server and returns the ClientHelloInfo it builds.
func serverView(t *testing.T, raw []byte) *tls.ClientHelloInfo {
	t.Helper()
	client, server := net.Pipe()
	defer client.Close()
	got := make(chan *tls.ClientHelloInfo, 1)
	go func() {
		defer server.Close()
		cfg := &tls.Config{GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
			c := *chi
			got <- &c
			return nil, errors.New("stop")
		}}
		_ = tls.Server(server, cfg).Handshake()
	}()
	go func() {
		client.Write(raw)
		io.Copy(io.Discard, client) // drain the server's alert
	}()
	select {
	case chi := <-got:
		return chi
	case <-time.After(10 * time.Second):
		t.Fatal("crypto/tls never saw the hello")
		return nil
	}
}

func TestReadLeavesFollowingBytes(t *testing.T) {
	raw := goHello(t, goConfigs()["alpn"])
	early := []byte("\x17\x03\x03\x00\x05early data the origin must get")
	for _, input := range [][]byte{raw, splitInto(t, raw, 3)} {
		for _, oneByte := range []bool{false, true} {
			stream := append(slices.Clip(input), early...)
			br := bytes.NewReader(stream)
			var r io.Reader = br
			if oneByte {
				r = iotest.OneByteReader(br)
			}
			_, got, err := Read(r, nil, DefaultMax)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, input) {
				t.Fatalf("raw has %d bytes, want the %d of the hello", len(got), len(input))
			}
			rest, _ := io.ReadAll(br)
			if !bytes.Equal(rest, early) {
				t.Fatalf("bytes after the hello: %q, want %q", rest, early)
			}
		}
	}
}

func TestReadTruncated(t *testing.T) {
	raw := goHello(t, goConfigs()["default"])
	for _, input := range [][]byte{raw, splitInto(t, raw, 5)} {
		// Every prefix: cut inside a header, a body, between records, one byte short.
		for n := 0; n < len(input); n++ {
			cr := &countingReader{r: bytes.NewReader(input[:n])}
			_, got, err := Read(cr, nil, DefaultMax)
			want := io.ErrUnexpectedEOF
			if n == 0 {
				want = io.EOF
			}
			if !errors.Is(err, want) {
				t.Fatalf("cut at %d/%d: err %v, want %v", n, len(input), err, want)
			}
			checkConsumed(t, input, got, cr)
			if len(got) != n {
				t.Fatalf("cut at %d: raw has %d bytes", n, len(got))
			}
		}
	}
}

// TestReadStalledClient: a client that sends part of its hello and then nothing must not hold Read
// past the connection's deadline (the proxy's timeouts.hello).
func TestReadStalledClient(t *testing.T) {
	raw := goHello(t, goConfigs()["default"])
	for _, cut := range []int{1, 3, 5, 700, len(raw) - 1} {
		client, server := net.Pipe()
		go client.Write(raw[:cut])
		server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, got, err := Read(server, nil, DefaultMax)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("cut %d: err %v, want a deadline error", cut, err)
		}
		if !bytes.Equal(got, raw[:cut]) {
			t.Fatalf("cut %d: raw has %d bytes", cut, len(got))
		}
		client.Close()
		server.Close()
	}
}

func TestReadMax(t *testing.T) {
	raw := goHello(t, goConfigs()["default"])
	for name, input := range map[string][]byte{
		"whole":      raw,
		"16 records": splitInto(t, raw, 16),
		"2 records":  records(t, raw, 3),
	} {
		t.Run(name, func(t *testing.T) {
			if _, got, err := Read(bytes.NewReader(input), nil, len(input)); err != nil || len(got) != len(input) {
				t.Fatalf("max = len: %d bytes, %v", len(got), err)
			}
			for _, limit := range []int{len(input) - 1, len(input) / 2, 10, 5, 4, 1, 0, -1} {
				cr := &countingReader{r: bytes.NewReader(input)}
				_, got, err := Read(cr, nil, limit)
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("max %d: err %v, want ErrTooLarge", limit, err)
				}
				if len(got) > max(limit, 0) {
					t.Fatalf("max %d: read %d bytes", limit, len(got))
				}
				checkConsumed(t, input, got, cr)
			}
		})
	}
}

func TestReadNotTLS(t *testing.T) {
	for _, input := range []string{
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"SSH-2.0-OpenSSH_9.6\r\n",
		"\x80\x2e\x01\x03\x01", // SSLv2-compatible hello
		"\x17\x03\x03\x00\x10", // application data first
		"\x15\x03\x03\x00\x02\x02\x28",
		"x",
	} {
		br := bytes.NewReader([]byte(input))
		info, got, err := Read(br, make([]byte, 0, 64), DefaultMax)
		if !errors.Is(err, ErrNotTLS) {
			t.Fatalf("%q: err %v, want ErrNotTLS", input, err)
		}
		if string(got) != input[:1] || br.Len() != len(input)-1 || info.ServerName != "" {
			t.Fatalf("%q: raw %q, %d bytes left, info %+v", input, got, br.Len(), info)
		}
	}
	// A single byte and then silence must be answered at once, not after a deadline.
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go client.Write([]byte("G"))
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, got, err := Read(server, nil, DefaultMax); !errors.Is(err, ErrNotTLS) || string(got) != "G" {
		t.Fatalf("one byte: raw %q err %v", got, err)
	}
}

func TestReadMalformed(t *testing.T) {
	good := record(synthHello([]ext{{0, host("a.example")}}))
	two := records(t, good, 10) // several records
	tests := []struct {
		name  string
		input []byte
	}{
		{"empty record", []byte{22, 3, 1, 0, 0}},
		{"record over 2^14", []byte{22, 3, 1, 0x40, 0x01}},
		{"record version 2", append([]byte{22, 2, 0}, good[3:]...)},
		{"not ClientHello", record([]byte{2, 0, 0, 1, 0})},
		{"ServerHello split", []byte{22, 3, 1, 0, 1, 2}},
		{"alert inside hello", append(slices.Clip(two[:15]), 21, 3, 3, 0, 2, 2, 40)},
		{"ccs inside hello", append(slices.Clip(two[:15]), 20, 3, 3, 0, 1, 1)},
		{"empty record inside hello", append(slices.Clip(two[:15]), 22, 3, 3, 0, 0)},
		{"trailing bytes in record", record(append(slices.Clip(good[5:]), 0x17))},
		{"next record too long", append(slices.Clip(two[:15]), 22, 3, 1, 0x10, 0)},
		{"short message", record([]byte{1, 0, 0, 2, 3, 3})},
		{"garbage hello", record([]byte{1, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef, 0})},
		{"handshake type 0", []byte{22, 3, 1, 0, 4, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			cr := &countingReader{r: bytes.NewReader(tt.input)}
			var r io.Reader = cr
			if oneByte {
				r = iotest.OneByteReader(cr)
			}
			_, got, err := Read(r, nil, DefaultMax)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: err %v, want ErrMalformed", tt.name, err)
			}
			checkConsumed(t, tt.input, got, cr)
		}
	}
}

func TestReadGarbage(t *testing.T) {
	// Pseudo-random bytes that start like a handshake record: an error, never a hang or a panic.
	seed := uint32(1)
	for i := range 2000 {
		n := i%300 + 1
		input := make([]byte, n)
		for j := range input {
			seed = seed*1664525 + 1013904223
			input[j] = byte(seed >> 24)
		}
		input[0] = 22
		if n > 1 && i%2 == 0 {
			input[1] = 3
		}
		cr := &countingReader{r: bytes.NewReader(input)}
		if _, got, err := Read(cr, nil, 512); err == nil {
			t.Fatalf("garbage %x accepted", input)
		} else {
			checkConsumed(t, input, got, cr)
		}
	}
}

// TestReadReusesBuffer: with room in the caller's buffer, Read neither allocates a new one for raw
// nor for reassembling several records.
func TestReadReusesBuffer(t *testing.T) {
	raw := goHello(t, goConfigs()["default"])
	for _, input := range [][]byte{raw, splitInto(t, raw, 4)} {
		buf := make([]byte, 8192)
		_, got, err := Read(bytes.NewReader(input), buf, DefaultMax)
		if err != nil {
			t.Fatal(err)
		}
		if &got[0] != &buf[0] {
			t.Fatal("raw does not use the caller's buffer")
		}
		if cap(got) != cap(buf) {
			t.Fatalf("cap(raw) %d, want the buffer's %d", cap(got), cap(buf))
		}
	}
}

func equalInfo(a, b Info) bool {
	return a.ServerName == b.ServerName && slices.Equal(a.ALPN, b.ALPN) && a.ECH == b.ECH &&
		a.LegacyVersion == b.LegacyVersion && slices.Equal(a.SupportedVersions, b.SupportedVersions) &&
		slices.Equal(a.KeyShareGroups, b.KeyShareGroups) &&
		(a.ALPN == nil) == (b.ALPN == nil) && (a.SupportedVersions == nil) == (b.SupportedVersions == nil) &&
		(a.KeyShareGroups == nil) == (b.KeyShareGroups == nil)
}
