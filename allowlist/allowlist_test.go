package allowlist

import (
	"net/netip"
	"strings"
	"testing"
)

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "courier.push.apple.com", want: "courier.push.apple.com"},
		{in: "Courier.PUSH.Apple.COM.", want: "courier.push.apple.com"},
		{in: "bücher.example", want: "xn--bcher-kva.example"},
		{in: "BÜCHER.example.", want: "xn--bcher-kva.example"},
		{in: "_sip._tcp.example.com", want: "_sip._tcp.example.com"},
		{in: "a-b.c", want: "a-b.c"},
		{in: "", wantErr: true},
		{in: ".", wantErr: true},
		{in: "a..b", wantErr: true},
		{in: ".a.b", wantErr: true},
		{in: "a.b..", wantErr: true},
		{in: "a b.com", wantErr: true},
		{in: "a/b.com", wantErr: true},
		{in: "evil.com%2f", wantErr: true},
		{in: "user@host.com", wantErr: true},
		{in: "2130706433", wantErr: true}, // a decimal IPv4 address
		{in: "0x7f.1", wantErr: true},     // ends in a numeric label
		{in: "127.1", wantErr: true},      // inet_aton short form
		{in: "[::1]", wantErr: true},      // brackets are not part of a name
		{in: strings.Repeat("a", 64) + ".com", wantErr: true},
		{in: strings.Repeat("a.", 127) + "com", wantErr: true}, // 257 bytes
		{in: strings.Repeat("a", 63) + ".com", want: strings.Repeat("a", 63) + ".com"},
		{in: "\xff.push.apple.com", wantErr: true},         // not UTF-8: idna would make it xn--zn7c
		{in: "b\xc3\xbccher.\xc3.example", wantErr: true},  // a valid label beside a cut sequence
		{in: "\xef\xbf\xbd.push.apple.com", wantErr: true}, // U+FFFD itself is disallowed by IDNA
	}
	for _, tt := range tests {
		got, err := NormalizeName(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNormalizeNameDoesNotAllocateWhenCanonical(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := NormalizeName("courier.push.apple.com"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("NormalizeName allocates %v times for a canonical name", allocs)
	}
}

func TestNormalizeDomainPattern(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "*.Push.Apple.com.", want: "*.push.apple.com"},
		{in: "mtalk.google.com", want: "mtalk.google.com"},
		{in: "*.", wantErr: true},
		{in: "*", wantErr: true},
		{in: "a.*.com", wantErr: true},
		{in: "*apple.com", wantErr: true},
		{in: "**.apple.com", wantErr: true},
		{in: "17.1.2.3", wantErr: true},
		{in: "[2001:db8::1]", wantErr: true},
	}
	for _, tt := range tests {
		got, err := NormalizeDomainPattern(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NormalizeDomainPattern(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in      string
		want    Target
		wantErr bool
	}{
		{in: "courier.push.apple.com:5223", want: Target{Name: "courier.push.apple.com", Port: 5223}},
		{in: "Courier.Push.Apple.com.:443", want: Target{Name: "courier.push.apple.com", Port: 443}},
		{in: "17.57.146.20:443", want: Target{Addr: netip.MustParseAddr("17.57.146.20"), Port: 443}},
		{in: "[2620:149:a44::1]:5223", want: Target{Addr: netip.MustParseAddr("2620:149:a44::1"), Port: 5223}},
		{in: "[::ffff:17.1.2.3]:443", want: Target{Addr: netip.MustParseAddr("17.1.2.3"), Port: 443}},
		{in: "[::1]:65535", want: Target{Addr: netip.MustParseAddr("::1"), Port: 65535}},
		{in: "a.com:1", want: Target{Name: "a.com", Port: 1}},
		{in: "\xff.push.apple.com:443", wantErr: true},
		{in: "", wantErr: true},
		{in: "apple.com", wantErr: true},
		{in: "apple.com:", wantErr: true},
		{in: ":443", wantErr: true},
		{in: "apple.com:0", wantErr: true},
		{in: "apple.com:65536", wantErr: true},
		{in: "apple.com:+443", wantErr: true},
		{in: "apple.com:443 ", wantErr: true},
		{in: "apple.com:0x1bb", wantErr: true},
		{in: "::1:443", wantErr: true},
		{in: "[::1]", wantErr: true},
		{in: "[::1]443", wantErr: true},
		{in: "[17.1.2.3]:443", wantErr: true},
		{in: "[fe80::1%eth0]:443", wantErr: true},
		{in: "[apple.com]:443", wantErr: true},
		{in: "user@apple.com:443", wantErr: true},
		{in: "apple.com/x:443", wantErr: true},
		{in: "http://apple.com:443", wantErr: true},
		{in: "apple%2ecom:443", wantErr: true},
		{in: "2130706433:443", wantErr: true},
		{in: "017.1.2.3:443", wantErr: true}, // leading zeros: octal to some parsers
		{in: "0x11.1.2.3:443", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"courier.push.apple.com:5223", "[::1]:443", "17.1.2.3:443", "a..b:1", "[::ffff:1.2.3.4]:80", "bücher.de:443", "x:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		if tg.Port == 0 {
			t.Fatalf("ParseTarget(%q) gave port 0", s)
		}
		if (tg.Name == "") == !tg.Addr.IsValid() {
			t.Fatalf("ParseTarget(%q) = %+v: want exactly one of name and address", s, tg)
		}
		if tg.Name != "" {
			// A parsed name is canonical: normalising it again changes nothing.
			if n, err := NormalizeName(tg.Name); err != nil || n != tg.Name {
				t.Fatalf("ParseTarget(%q) name %q is not canonical (%q, %v)", s, tg.Name, n, err)
			}
		}
		// Formatting and parsing again gives the same target.
		again, err := ParseTarget(tg.HostPort())
		if err != nil || again != tg {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, tg, tg.HostPort(), again, err)
		}
	})
}

func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{"Apple.COM.", "bücher.example", "a..b", "xn--bcher-kva.example", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeName(s)
		if err != nil {
			return
		}
		if n2, err := NormalizeName(n); err != nil || n2 != n {
			t.Fatalf("NormalizeName not idempotent: %q -> %q -> %q, %v", s, n, n2, err)
		}
		if strings.ToLower(n) != n || strings.HasSuffix(n, ".") || len(n) > maxNameLen {
			t.Fatalf("NormalizeName(%q) = %q is not canonical", s, n)
		}
	})
}

func TestParsePortRange(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    PortRange
		wantErr bool
	}{
		{in: "443", want: PortRange{Lo: 443, Hi: 443}},
		{in: " 5228-5230 ", want: PortRange{Lo: 5228, Hi: 5230}},
		{in: "1-65535", want: PortRange{Lo: 1, Hi: 65535}},
		{in: "0", wantErr: true},
		{in: "65536", wantErr: true},
		{in: "5230-5228", wantErr: true},
		{in: "-443", wantErr: true},
		{in: "443-", wantErr: true},
		{in: "4a3", wantErr: true},
		{in: "", wantErr: true},
		{in: "1-2-3", wantErr: true},
		{in: "+443", wantErr: true},
	} {
		got, err := ParsePortRange(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"443", "5228-5230", "0", "65535-1", " 80 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			return
		}
		if r.Lo == 0 || r.Lo > r.Hi {
			t.Fatalf("ParsePortRange(%q) = %v", s, r)
		}
		if !(Ports{r}).Contains(r.Lo) || !(Ports{r}).Contains(r.Hi) {
			t.Fatalf("range %v does not contain its ends", r)
		}
	})
}
