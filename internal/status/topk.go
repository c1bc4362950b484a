package status

import (
	"net/netip"
	"strings"
)

// topK keeps the most frequent refusals of a stream in bounded memory with the Space-Saving
// algorithm: at most k items; a new key takes the place of the least counted one and inherits
// its count as an over-estimate (err). Any key refused more often than total/k is kept.
type topK struct {
	k     int
	items []refusal
	idx   map[refusalKey]int
}

// refusalKey identifies a refused target: host and port as the client asked, and the reason.
type refusalKey struct {
	host   string
	port   uint16
	reason string
}

// refusal is one refused target and what is known of it.
type refusal struct {
	key     refusalKey
	addr    netip.Addr // a destination address it was refused at, for denied_address suggestions
	count   uint64
	err     uint64 // count may over-state by this much (inherited from an evicted key)
	clients distinct
}

func newTopK(k int) *topK {
	return &topK{k: k, items: make([]refusal, 0, k), idx: make(map[refusalKey]int, k)}
}

// add counts n refusals of key by the client whose address hashes to client.
func (t *topK) add(key refusalKey, addr netip.Addr, client uint64, n uint64) {
	if i, ok := t.idx[key]; ok {
		it := &t.items[i]
		it.count += n
		it.clients.add(client)
		if addr.IsValid() {
			it.addr = addr
		}
		return
	}
	// A key that stays is copied, so it keeps no larger string (a request's buffer) alive.
	key = refusalKey{host: strings.Clone(key.host), port: key.port, reason: strings.Clone(key.reason)}
	if len(t.items) < t.k {
		t.idx[key] = len(t.items)
		t.items = append(t.items, refusal{key: key, addr: addr, count: n})
		t.items[len(t.items)-1].clients.add(client)
		return
	}
	low := 0
	for i := range t.items {
		if t.items[i].count < t.items[low].count {
			low = i
		}
	}
	delete(t.idx, t.items[low].key)
	floor := t.items[low].count
	t.items[low] = refusal{key: key, addr: addr, count: floor + n, err: floor}
	t.items[low].clients.add(client)
	t.idx[key] = low
}

func (t *topK) reset() {
	t.items = t.items[:0]
	clear(t.idx)
}
