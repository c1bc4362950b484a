package status

import (
	"container/heap"
	"net/netip"
	"strings"
)

// topK keeps the most frequent refusals of a stream in bounded memory with the Space-Saving
// algorithm: at most k items; a new key takes the place of the least counted one and inherits
// its count as an over-estimate (err). Any key refused more often than total/k is kept. The
// items form a min-heap on count, so finding the least counted one costs O(log k).
type topK struct {
	k     int
	items []refusal
	idx   map[refusalKey]int // key -> position in items
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
		heap.Fix((*byCount)(t), i)
		return
	}
	// A key that stays is copied, so it keeps no larger string (a request's buffer) alive.
	key = refusalKey{host: strings.Clone(key.host), port: key.port, reason: strings.Clone(key.reason)}
	if len(t.items) < t.k {
		heap.Push((*byCount)(t), refusal{key: key, addr: addr, count: n})
		t.items[t.idx[key]].clients.add(client)
		return
	}
	low := &t.items[0] // the least counted
	delete(t.idx, low.key)
	floor := low.count
	*low = refusal{key: key, addr: addr, count: floor + n, err: floor}
	low.clients.add(client)
	t.idx[key] = 0
	heap.Fix((*byCount)(t), 0)
}

func (t *topK) reset() {
	t.items = t.items[:0]
	clear(t.idx)
}

// byCount is the heap.Interface of a topK's items, least counted first.
type byCount topK

func (h *byCount) Len() int           { return len(h.items) }
func (h *byCount) Less(i, j int) bool { return h.items[i].count < h.items[j].count }
func (h *byCount) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.idx[h.items[i].key] = i
	h.idx[h.items[j].key] = j
}
func (h *byCount) Push(x any) {
	r := x.(refusal)
	h.idx[r.key] = len(h.items)
	h.items = append(h.items, r)
}
func (h *byCount) Pop() any { panic("topK never pops") }
