package status

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// window counts refusals over a fixed span of time as a ring of buckets, each its own topK:
// memory is buckets * k items, whatever the traffic. A query merges the buckets still inside
// the span, so "the last hour" is the last 11 to 12 five-minute buckets.
type window struct {
	width   time.Duration // one bucket's span
	buckets []bucket
}

type bucket struct {
	start int64 // unix nanoseconds the bucket's span starts; 0 = unused
	top   *topK
}

func newWindow(span time.Duration, n, k int) *window {
	w := &window{width: span / time.Duration(n), buckets: make([]bucket, n)}
	for i := range w.buckets {
		w.buckets[i].top = newTopK(k)
	}
	return w
}

// add counts refusals at time now.
func (w *window) add(now time.Time, key refusalKey, addr netip.Addr, client uint64, n uint64) {
	slot := now.UnixNano() / int64(w.width)
	b := &w.buckets[slot%int64(len(w.buckets))]
	if start := slot * int64(w.width); b.start != start {
		b.start = start
		b.top.reset()
	}
	b.top.add(key, addr, client, n)
}

// top returns the n most refused targets of the buckets inside the span ending at now.
func (w *window) top(now time.Time, n int) []refusal {
	oldest := now.UnixNano() - int64(w.width)*int64(len(w.buckets))
	merged := map[refusalKey]*refusal{}
	for _, b := range w.buckets {
		if b.start == 0 || b.start+int64(w.width) <= oldest {
			continue
		}
		for i := range b.top.items {
			it := &b.top.items[i]
			m, ok := merged[it.key]
			if !ok {
				m = &refusal{key: it.key, addr: it.addr}
				merged[it.key] = m
			}
			m.count += it.count
			m.err += it.err
			m.clients.merge(&it.clients)
		}
	}
	out := make([]refusal, 0, len(merged))
	for _, m := range merged {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b refusal) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.key.host, b.key.host), cmp.Compare(a.key.port, b.key.port), cmp.Compare(a.key.reason, b.key.reason))
	})
	return out[:min(n, len(out))]
}
