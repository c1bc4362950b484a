package allowlist

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestAddrKeyMatchesBits checks the table-driven key against a bit-by-bit reference for
// random addresses and every prefix length.
func TestAddrKeyMatchesBits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		var raw [16]byte
		for j := range raw {
			raw[j] = byte(r.Uint32())
		}
		for _, a := range []netip.Addr{netip.AddrFrom16(raw), netip.AddrFrom4([4]byte(raw[:4]))} {
			for bits := 0; bits <= a.BitLen(); bits++ {
				var buf [addrKeyMax]byte
				got := string(buf[:addrKey(&buf, a, bits)])
				want := "6"
				if a.Is4() {
					want = "4"
				}
				b := a.AsSlice()
				for k := 0; k < bits; k++ {
					want += string(rune('0' + (b[k/8]>>(7-k%8))&1))
				}
				if got != want {
					t.Fatalf("addrKey(%s, %d) = %q, want %q", a, bits, got, want)
				}
			}
		}
	}
}

func TestReverseName(t *testing.T) {
	for in, want := range map[string]string{
		"courier.push.apple.com": "com.apple.push.courier.",
		"com":                    "com.",
		"a.b":                    "b.a.",
	} {
		var buf [nameKeyMax]byte
		if got := string(buf[:reverseName(&buf, in)]); got != want {
			t.Errorf("reverseName(%q) = %q, want %q", in, got, want)
		}
	}
}
