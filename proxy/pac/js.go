package pac

import (
	"bytes"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
)

// mainFunc is FindProxyForURL. MDM_ROUTE and REST_ROUTE are replaced by JavaScript
// expressions. The IPv4 test is a string test that admits only the canonical dotted quad,
// the form the proxy reads as an address; "017.1.2.3" and "17.1.2.3." are names to it, and
// names no rule can match, so they take the rest's route there as here.
const mainFunc = `
var dottedQuad = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

function FindProxyForURL(url, host) {
	var h = host.toLowerCase();
	if (h.charAt(0) == "[" && h.charAt(h.length - 1) == "]") h = h.substring(1, h.length - 1);
	if (/^::ffff:[0-9.]+$/.test(h)) h = h.substring(7); // IPv4-mapped IPv6 is IPv4
	var ip4 = dottedQuad.test(h);
	var ip6 = !ip4 && h.indexOf(":") >= 0;
	if (ip6 && !hextets(h)) return REST_ROUTE; // a colon, but not an IPv6 address: no host name either
	if (!ip4 && !ip6) {
		if (h.charAt(h.length - 1) == ".") h = h.substring(0, h.length - 1); // one trailing dot
		if (h.indexOf(".") < 0) return "DIRECT"; // a plain host name
	}
	if (isDirect(h, ip4, ip6)) return "DIRECT";
	if (isMDM(h, ip4, ip6)) return MDM_ROUTE;
	return REST_ROUTE;
}

// hextets parses an IPv6 literal (h is lower case, without brackets) into eight 16-bit
// groups, or returns null for anything else.
function hextets(h) {
	var halves = h.split("::");
	if (halves.length > 2) return null;
	var head = halves[0] ? halves[0].split(":") : [];
	var tail = halves.length == 2 && halves[1] ? halves[1].split(":") : [];
	var last = tail.length ? tail : head;
	if (last.length && last[last.length - 1].indexOf(".") >= 0) {
		var d = last.pop();
		if (!dottedQuad.test(d)) return null;
		var q = d.split(".");
		last.push((q[0] * 256 + +q[1]).toString(16), (q[2] * 256 + +q[3]).toString(16));
	}
	var fill = 8 - head.length - tail.length;
	if (halves.length == 1 ? fill != 0 : fill < 1) return null;
	var g = head;
	while (fill-- > 0) g.push("0");
	g = g.concat(tail);
	for (var i = 0; i < 8; i++) {
		if (!/^[0-9a-f]{1,4}$/.test(g[i])) return null;
		g[i] = parseInt(g[i], 16);
	}
	return g;
}
`

// writer writes the body of the file.
type writer struct {
	b         *bytes.Buffer
	inlineMax int
	lookups   []string // lookup functions the tables need, written once at the end
	written   int      // entries written so far
}

func (w *writer) lines(s string) { w.b.WriteString(s) }

// yieldEntries is how many entries are written between two yields to the Go scheduler: a
// reload generates the file on a running proxy, and a goroutine otherwise keeps its processor
// for 10 ms or more while tunnel pumps woken on it wait (as allowlist.Compile does).
const yieldEntries = 1024

// entryWritten yields now and then; see yieldEntries.
func (w *writer) entryWritten() {
	if w.written++; w.written%yieldEntries == 0 {
		runtime.Gosched()
	}
}

// main writes FindProxyForURL with its routes.
func (w *writer) main(mdm, rest Route, upstream string) {
	w.lines(strings.NewReplacer("MDM_ROUTE", routeJS(mdm, upstream), "REST_ROUTE", routeJS(rest, upstream)).Replace(mainFunc))
}

// routeJS is the JavaScript expression of a route's result.
func routeJS(r Route, upstream string) string {
	switch r {
	case Direct:
		return `"DIRECT"`
	case Upstream:
		return strconv.Quote("PROXY " + upstream)
	}
	return "mdmproxy"
}

// set writes function name(h, ip4, ip6), which reports whether the host is in s. Each list
// longer than inlineMax is written as a table before it.
func (w *writer) set(name, comment string, s *set) {
	v4 := w.netTable(name, "4", s.v4, inNet4JS)
	v6 := w.netTable(name, "6", s.v6, inNet6JS)
	names := ""
	if len(s.names) > w.inlineMax {
		keys, vals := nameKeys(s.names)
		w.table(name+"Names", strconv.Itoa(len(s.names))+" names; 1: the exact name, 2: any name below it, 3: both", keys, vals)
		names = "return inNames(" + name + "Names, h);\n"
		w.need(inNamesJS)
	}
	w.lines("\n// " + comment + "\nfunction " + name + "(h, ip4, ip6) {\n")
	w.lines("\tif (ip4) ")
	w.orInline(v4, s.v4, ipv4Test, "")
	w.lines("\tif (ip6) ")
	w.orInline(v6, s.v6, ipv6Test, `typeof isInNetEx == "function" && `)
	w.lines("\t")
	w.orInline(names, s.names, nameTest, "")
	w.lines("}\n")
}

// netTable writes the table of IPv4 or IPv6 prefixes (family "4" or "6") when there are more
// than inlineMax, and returns the lookup statement; "" when the prefixes stay inline.
func (w *writer) netTable(name, family string, es []entry, lookupJS string) string {
	if len(es) <= w.inlineMax {
		return ""
	}
	keys, vals, lens := netKeys(es)
	table, lensVar := name+"Net"+family, name+"Len"+family
	w.table(table, strconv.Itoa(len(es))+" IPv"+family+" prefixes", keys, vals)
	w.lines("var " + lensVar + " = " + jsInts(lens) + ";\n")
	w.need(lookupJS)
	return "return inNet" + family + "(" + table + ", " + lensVar + ", h);\n"
}

// orInline writes the table lookup if there is one, else the inline alternatives.
func (w *writer) orInline(lookup string, es []entry, test func(string) string, guard string) {
	if lookup != "" {
		w.lines(lookup)
		return
	}
	w.alternatives(es, test, guard)
}

// need remembers a lookup function to write after the sets.
func (w *writer) need(js string) {
	for _, have := range w.lookups {
		if have == js {
			return
		}
	}
	w.lookups = append(w.lookups, js)
}

// alternatives writes "return guard(t1 || t2 ...);", one test per line with its rule as a
// comment.
func (w *writer) alternatives(es []entry, test func(string) string, guard string) {
	if len(es) == 0 {
		w.lines("return false;\n")
		return
	}
	w.lines("return " + guard + "(\n")
	for i, e := range es {
		w.lines("\t\t" + test(e.value))
		if i < len(es)-1 {
			w.lines(" ||")
		}
		w.lines(" // " + commentSafe(e.rule) + "\n")
		w.entryWritten()
	}
	w.lines("\t);\n")
}

// table writes an object literal: one key per line, in the given order, under a comment line
// naming the rule each run of keys came from.
func (w *writer) table(name, comment string, keys []entry, vals map[string]int) {
	w.lines("\n// " + comment + ".\nvar " + name + " = {")
	rule := ""
	for i, key := range keys {
		if i > 0 {
			w.lines(",")
		}
		if i == 0 || key.rule != rule {
			rule = key.rule
			w.lines("\n// " + commentSafe(rule))
		}
		w.lines("\n" + strconv.Quote(key.value) + ":" + strconv.Itoa(vals[key.value]))
		w.entryWritten()
	}
	w.lines("\n};\n")
}

func jsInts(ns []int) string {
	ss := make([]string, len(ns))
	for i, n := range ns {
		ss[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(ss, ", ") + "]"
}

// nameTest is the inline test of an exact name or a "*." wildcard; the leading dot keeps
// "evilapple.com" out of "*.apple.com", and "apple.com" itself too.
func nameTest(pattern string) string {
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		return "dnsDomainIs(h, " + strconv.Quote("."+suffix) + ")"
	}
	return "h == " + strconv.Quote(pattern)
}

// ipv4Test is isInNet with the prefix's network and mask; h is an IPv4 literal here, so the
// engine resolves nothing.
func ipv4Test(prefix string) string {
	p := netip.MustParsePrefix(prefix)
	mask := net.IP(net.CIDRMask(p.Bits(), 32)).String()
	return "isInNet(h, " + strconv.Quote(p.Addr().String()) + ", " + strconv.Quote(mask) + ")"
}

// ipv6Test is isInNetEx (Microsoft's IPv6 extension, which Chrome implements too) with the
// prefix; engines without it send IPv6 literals the rest's way.
func ipv6Test(prefix string) string {
	return "isInNetEx(h, " + strconv.Quote(prefix) + ")"
}

// commentSafe keeps a rule name from ending its comment line.
func commentSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == 0x2028 || r == 0x2029 {
			return '?'
		}
		return r
	}, s)
}
