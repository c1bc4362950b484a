package events

import (
	"net/netip"
	"strconv"
)

// pairs appends key=value pairs, the way CEF extensions and LEEF attributes
// are written: a separator between pairs (a space, a tab) and each format's
// value escaping. Numbers and addresses need no escaping and skip it.
type pairs struct {
	b      []byte
	sep    byte
	escape func(dst []byte, v string) []byte
	first  bool
	num    [64]byte // scratch for numbers, addresses and times
}

func (x *pairs) key(k string) {
	if x.first {
		x.b = append(x.b, x.sep)
	}
	x.first = true
	x.b = append(x.b, k...)
	x.b = append(x.b, '=')
}

// str appends k with an escaped value, even an empty one.
func (x *pairs) str(k, v string) {
	x.key(k)
	x.b = x.escape(x.b, v)
}

// opt appends k only when v is not empty.
func (x *pairs) opt(k, v string) {
	if v != "" {
		x.str(k, v)
	}
}

// raw appends k with a value that needs no escaping.
func (x *pairs) raw(k string, v []byte) {
	x.key(k)
	x.b = append(x.b, v...)
}

func (x *pairs) int(k string, v int64) { x.raw(k, strconv.AppendInt(x.num[:0], v, 10)) }

// addr appends k with a's text when a is valid.
func (x *pairs) addr(k string, a netip.Addr) {
	if a.IsValid() {
		x.raw(k, appendAddr(x.num[:0], a))
	}
}

// port appends k when p is not 0.
func (x *pairs) port(k string, p uint16) {
	if p != 0 {
		x.int(k, int64(p))
	}
}

// flow appends the fields CEF and LEEF both carry under their own names:
// client, destination and, on end events, the byte counts. It returns the
// raw target, which each format puts in a field of its own.
func (x *pairs) flow(e *Event, n *flowKeys) (rawTarget string) {
	x.addr(n.src, e.SourceIP)
	x.port(n.srcPort, e.SourcePort)
	domain, rawTarget := e.Domain()
	x.opt(n.dstHost, domain)
	x.addr(n.dst, e.DestIP)
	x.port(n.dstPort, e.DestPort)
	if e.Action == ActionEnd || e.SourceBytes != 0 || e.DestBytes != 0 {
		x.int(n.srcBytes, e.SourceBytes)
		x.int(n.dstBytes, e.DestBytes)
	}
	return rawTarget
}

// flowKeys are a format's names for the fields flow writes.
type flowKeys struct {
	src, srcPort, dstHost, dst, dstPort, srcBytes, dstBytes string
}

var (
	cefFlowKeys  = flowKeys{"src", "spt", "dhost", "dst", "dpt", "in", "out"}
	leefFlowKeys = flowKeys{"src", "srcPort", "dstHost", "dst", "dstPort", "srcBytes", "dstBytes"}
)
