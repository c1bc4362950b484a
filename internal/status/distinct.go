package status

import (
	"hash/maphash"
	"math"
	"math/bits"
	"net/netip"
)

// exactClients is how many distinct clients a distinct counts exactly; beyond, it estimates.
const exactClients = 8

// hllRegisters is the size of the estimating sketch (HyperLogLog, 2^6 registers of one byte):
// 64 bytes whatever the number of clients, about 13% standard error.
const (
	hllBits      = 6
	hllRegisters = 1 << hllBits
)

// clientSeed hashes client addresses; one seed per process, so sketches merge.
var clientSeed = maphash.MakeSeed()

// distinct counts distinct client addresses in bounded memory: exactly up to exactClients,
// then with a HyperLogLog sketch. The zero value counts none.
type distinct struct {
	exact [exactClients]uint64
	n     uint8
	regs  *[hllRegisters]uint8 // non-nil once more than exactClients were seen
}

func hashAddr(a netip.Addr) uint64 { return maphash.Comparable(clientSeed, a) }

// add counts the client whose address hashes to h.
func (d *distinct) add(h uint64) {
	if d.regs != nil {
		d.addHLL(h)
		return
	}
	for _, x := range d.exact[:d.n] {
		if x == h {
			return
		}
	}
	if int(d.n) < exactClients {
		d.exact[d.n] = h
		d.n++
		return
	}
	d.regs = new([hllRegisters]uint8)
	for _, x := range d.exact[:d.n] {
		d.addHLL(x)
	}
	d.addHLL(h)
}

func (d *distinct) addHLL(h uint64) {
	idx := h >> (64 - hllBits)
	rank := uint8(bits.LeadingZeros64(h<<hllBits|1<<(hllBits-1)) + 1)
	if rank > d.regs[idx] {
		d.regs[idx] = rank
	}
}

// merge adds o's clients to d.
func (d *distinct) merge(o *distinct) {
	if o.regs == nil {
		for _, x := range o.exact[:o.n] {
			d.add(x)
		}
		return
	}
	if d.regs == nil {
		d.regs = new([hllRegisters]uint8)
		for _, x := range d.exact[:d.n] {
			d.addHLL(x)
		}
	}
	for i, r := range o.regs {
		if r > d.regs[i] {
			d.regs[i] = r
		}
	}
}

// count is the number of distinct clients: exact up to exactClients, estimated beyond.
func (d *distinct) count() int {
	if d.regs == nil {
		return int(d.n)
	}
	const m = float64(hllRegisters)
	sum, zeros := 0.0, 0
	for _, r := range d.regs {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	est := 0.709 * m * m / sum // alpha for m = 64
	if est <= 2.5*m && zeros > 0 {
		est = m * math.Log(m/float64(zeros)) // linear counting for small numbers
	}
	return max(int(math.Round(est)), exactClients+1)
}
