package pac

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The lookup functions below are written into the file once when some list is a table.
// Tables are objects whose keys never start like an Object property (".name", "1.2.3.0/24",
// "2001:db8:0:0:0:0:0:0/32"), so plain lookups are safe in every engine.

// inNamesJS: keys are names with a leading dot, bit 1 marks an exact name, bit 2 a "*."
// wildcard. Each suffix of h from one of its dots is the argument dnsDomainIs(h, ".suffix")
// takes, so the loop tests every wildcard of the table at once, in one lookup per label.
const inNamesJS = `
function inNames(t, h) {
	if (t["." + h] & 1) return true;
	for (var i = h.indexOf("."); i >= 0; i = h.indexOf(".", i + 1)) {
		if (t[h.substring(i)] & 2) return true;
	}
	return false;
}
`

// inNet4JS: h is a canonical dotted quad (FindProxyForURL checked); for each prefix length
// of the table, the network h is in is looked up. This is isInNet for every prefix at once,
// with arithmetic instead of the engine's address parsing.
const inNet4JS = `
function inNet4(t, lens, h) {
	var p = h.split("."), n = ((+p[0] * 256 + +p[1]) * 256 + +p[2]) * 256 + +p[3];
	for (var i = 0; i < lens.length; i++) {
		var m = n - n % Math.pow(2, 32 - lens[i]);
		if (t[Math.floor(m / 16777216) + "." + Math.floor(m / 65536) % 256 + "." +
			Math.floor(m / 256) % 256 + "." + m % 256 + "/" + lens[i]]) return true;
	}
	return false;
}
`

// inNet6JS: for each prefix length of the table, the network h (an IPv6 literal, see
// hextetsJS) is in is looked up, written as eight hex groups without leading zeros or "::".
// No engine extension is needed.
const inNet6JS = `
function inNet6(t, lens, h) {
	var g = hextets(h);
	if (!g) return false;
	for (var i = 0; i < lens.length; i++) {
		var key = [];
		for (var j = 0; j < 8; j++) {
			var keep = Math.min(Math.max(lens[i] - 16 * j, 0), 16);
			key.push((g[j] - g[j] % Math.pow(2, 16 - keep)).toString(16));
		}
		if (t[key.join(":") + "/" + lens[i]]) return true;
	}
	return false;
}
`

// nameKeys is the names table: keys with a leading dot, in order of first appearance with the
// rule that brought them, and their bits (see inNamesJS).
func nameKeys(es []entry) (keys []entry, vals map[string]int) {
	vals = make(map[string]int, len(es))
	for _, e := range es {
		key, wild := strings.CutPrefix(e.value, "*.")
		key = "." + key
		if _, ok := vals[key]; !ok {
			keys = append(keys, entry{key, e.rule})
		}
		if wild {
			vals[key] |= 2
		} else {
			vals[key] |= 1
		}
	}
	return keys, vals
}

// netKeys is a prefixes table: keys as inNet4JS and inNet6JS compute them, with their rules,
// and the prefix lengths, longest first.
func netKeys(es []entry) (keys []entry, vals map[string]int, lens []int) {
	vals = make(map[string]int, len(es))
	seen := map[int]bool{}
	for _, e := range es {
		p := netip.MustParsePrefix(e.value)
		key := p.String()
		if p.Addr().Is6() {
			a := p.Addr().As16()
			var b strings.Builder
			for i := 0; i < 16; i += 2 {
				if i > 0 {
					b.WriteByte(':')
				}
				b.WriteString(strconv.FormatUint(uint64(a[i])<<8|uint64(a[i+1]), 16))
			}
			key = fmt.Sprintf("%s/%d", b.String(), p.Bits())
		}
		keys = append(keys, entry{key, e.rule})
		vals[key] = 1
		if !seen[p.Bits()] {
			seen[p.Bits()] = true
			lens = append(lens, p.Bits())
		}
	}
	for i := 1; i < len(lens); i++ { // few lengths: insertion sort, longest first
		for j := i; j > 0 && lens[j] > lens[j-1]; j-- {
			lens[j], lens[j-1] = lens[j-1], lens[j]
		}
	}
	return keys, vals, lens
}
