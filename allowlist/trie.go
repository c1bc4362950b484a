package allowlist

import (
	"net/netip"
	"unsafe"

	"github.com/armon/go-radix"
)

// Names and addresses live in go-radix trees whose keys are chosen so that a plain byte
// prefix is also a boundary-respecting match:
//
//   - a name is keyed by its labels reversed, each followed by a dot ("courier.push.apple.com"
//     becomes "com.apple.push.courier."), so the key of "*.apple.com" ("com.apple.") is a
//     prefix of every name below apple.com and never of "evilapple.com" ("com.evilapple.");
//   - an address is keyed by a family byte ('4' or '6') and one '0'/'1' byte per bit, so the
//     key of a prefix is a prefix of the key of every address inside it.
//
// Lookups build their key in a stack buffer and walk LongestPrefix from the most specific
// entry outwards, so the hit path does not allocate.

// nameKeyMax is the longest reversed-name key: a 253-byte name plus its trailing dot.
const nameKeyMax = maxNameLen + 1

// addrKeyMax is the longest address key: the family byte and 128 bits.
const addrKeyMax = 1 + 128

// reverseName writes the reversed-label key of a normalised name into buf and returns its length.
func reverseName(buf *[nameKeyMax]byte, name string) int {
	n := 0
	end := len(name)
	for i := len(name) - 1; i >= -1; i-- {
		if i == -1 || name[i] == '.' {
			n += copy(buf[n:], name[i+1:end])
			buf[n] = '.'
			n++
			end = i
		}
	}
	return n
}

// bitsOf holds, for each byte value, its eight bits as '0'/'1' characters.
var bitsOf = func() (t [256][8]byte) {
	for v := range t {
		for i := 0; i < 8; i++ {
			t[v][i] = '0' + byte(v>>(7-i)&1)
		}
	}
	return t
}()

// addrKey writes the key of the first bits bits of a into buf and returns its length.
// a must be canonical (see CanonicalAddr).
func addrKey(buf *[addrKeyMax]byte, a netip.Addr, bits int) int {
	raw := a.As16()
	b := raw[:]
	buf[0] = '6'
	if a.Is4() {
		buf[0] = '4'
		b = raw[12:]
	}
	for i := 0; i*8 < bits; i++ {
		copy(buf[1+i*8:], bitsOf[b[i]][:])
	}
	return 1 + bits
}

// borrow views buf[:n] as a string without copying. The trees never keep a lookup key, so
// the string does not outlive the buffer.
func borrow(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// nameEntry holds the rules that name one domain: exactly, or as "*." wildcards.
type nameEntry struct {
	exact    []*Rule
	wildcard []*Rule
}

// nameTrie maps domains to the rules that list them.
type nameTrie struct{ t *radix.Tree }

func newNameTrie() nameTrie { return nameTrie{radix.New()} }

// insert adds a normalised pattern ("a.b" or "*.a.b") for rule r.
func (nt nameTrie) insert(pattern string, r *Rule) {
	name, wild := pattern, false
	if len(pattern) > 2 && pattern[:2] == "*." {
		name, wild = pattern[2:], true
	}
	var buf [nameKeyMax]byte
	key := string(buf[:reverseName(&buf, name)])
	e, _ := nt.t.Get(key)
	entry, _ := e.(*nameEntry)
	if entry == nil {
		entry = &nameEntry{}
		nt.t.Insert(key, entry)
	}
	if wild {
		entry.wildcard = append(entry.wildcard, r)
	} else {
		entry.exact = append(entry.exact, r)
	}
}

// match returns the most specific rule for client naming name on port: an exact entry first,
// then wildcards from the longest suffix to the shortest; among entries for the same name, the
// first rule in configuration order. Rules that are not for client are skipped. named reports
// whether some rule for client names it on another port.
func (nt nameTrie) match(name string, port uint16, client netip.Addr) (r *Rule, named bool) {
	var buf [nameKeyMax]byte
	n := reverseName(&buf, name)
	search := buf[:n]
	for len(search) > 0 {
		k, v, ok := nt.t.LongestPrefix(borrow(search))
		if !ok {
			break
		}
		e := v.(*nameEntry)
		rules := e.wildcard
		if len(k) == n {
			rules = e.exact // "*.x" never matches x itself
		}
		for _, r := range rules {
			if r.appliesTo(client) {
				if r.Ports.Contains(port) {
					return r, true
				}
				named = true
			}
		}
		search = search[:len(k)-1] // drop the key's trailing dot: the next hit is a shorter suffix
	}
	return nil, named
}

// addrEntry holds what one prefix stands for: rules that list it, and whether deny_cidrs does.
type addrEntry struct {
	bits  int
	rules []*Rule
	deny  bool
}

// addrTrie maps prefixes to rules and to deny_cidrs.
type addrTrie struct{ t *radix.Tree }

func newAddrTrie() addrTrie { return addrTrie{radix.New()} }

func (at addrTrie) entry(p netip.Prefix) *addrEntry {
	var buf [addrKeyMax]byte
	key := string(buf[:addrKey(&buf, p.Addr(), p.Bits())])
	if v, ok := at.t.Get(key); ok {
		return v.(*addrEntry)
	}
	e := &addrEntry{bits: p.Bits()}
	at.t.Insert(key, e)
	return e
}

// lookup walks the prefixes containing canonical address a from the longest to the shortest
// and stops at the first one that decides: a rule for client allowing port (allow), or a
// deny_cidrs entry
// (denied). Walking from the longest means an allow rule wins over deny_cidrs exactly when its
// prefix is at least as specific; on the same prefix the allow rule wins. named reports whether
// some rule for client lists a containing prefix for another port.
func (at addrTrie) lookup(a netip.Addr, port uint16, client netip.Addr) (allow *Rule, denied, named bool) {
	var buf [addrKeyMax]byte
	search := buf[:addrKey(&buf, a, a.BitLen())]
	for {
		_, v, ok := at.t.LongestPrefix(borrow(search))
		if !ok {
			return nil, false, named
		}
		e := v.(*addrEntry)
		for _, r := range e.rules {
			if r.appliesTo(client) {
				if r.Ports.Contains(port) {
					return r, false, true
				}
				named = true
			}
		}
		if e.deny {
			return nil, true, named
		}
		if e.bits == 0 {
			return nil, false, named
		}
		search = search[:e.bits] // the family byte and one bit fewer: the next hit is a wider prefix
	}
}

// denyBits returns the length of the longest deny_cidrs prefix containing a, or -1.
func (at addrTrie) denyBits(a netip.Addr) int {
	var buf [addrKeyMax]byte
	search := buf[:addrKey(&buf, a, a.BitLen())]
	for {
		_, v, ok := at.t.LongestPrefix(borrow(search))
		if !ok {
			return -1
		}
		e := v.(*addrEntry)
		if e.deny {
			return e.bits
		}
		if e.bits == 0 {
			return -1
		}
		search = search[:e.bits]
	}
}
