package status

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func addrN(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// mix is a well-spread 64-bit hash of i that is the same in every run (splitmix64), unlike
// hashAddr's, whose seed is random: the estimates below are then the same in every run.
func mix(i int) uint64 {
	z := uint64(i) + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// TestDistinct: exact up to exactClients (hashAddr, a repeat counted once), then an estimate
// within 40% (fixed hashes: with hashAddr's random seed, 64 registers miss that bound now and
// then), and merges of both kinds.
func TestDistinct(t *testing.T) {
	var d distinct
	for i := range exactClients {
		d.add(hashAddr(addrN(i)))
		d.add(hashAddr(addrN(i))) // twice: counted once
		if got := d.count(); got != i+1 {
			t.Fatalf("after %d clients, count %d", i+1, got)
		}
	}
	for _, n := range []int{50, 1000, 100000} {
		var d distinct
		for i := range n {
			d.add(mix(i))
		}
		if got := d.count(); float64(got) < 0.6*float64(n) || float64(got) > 1.4*float64(n) {
			t.Errorf("%d clients estimated as %d", n, got)
		}
	}
	// Merging: two exact sets with an overlap, and an exact set into a sketch.
	var a, b distinct
	for i := range 5 {
		a.add(hashAddr(addrN(i)))
		b.add(hashAddr(addrN(i + 3)))
	}
	a.merge(&b)
	if got := a.count(); got != 8 {
		t.Errorf("merged 0-4 and 3-7: %d clients, want 8", got)
	}
	var big distinct
	for i := range 500 {
		big.add(mix(i))
	}
	var small distinct
	small.add(mix(1000))
	small.merge(&big)
	if got := small.count(); got < 300 || got > 700 {
		t.Errorf("merged 1 and 500 clients: %d", got)
	}
}

// TestTopKKeepsHeavyHitters: a target refused more often than 1/k of all refusals survives a
// flood of distinct targets (the Space-Saving guarantee), and the structure never holds more
// than k items.
func TestTopKKeepsHeavyHitters(t *testing.T) {
	top := newTopK(50)
	heavy := refusalKey{host: "courier.push.apple.com", port: 5223, reason: "no_rule"}
	for i := range 40000 {
		top.add(refusalKey{host: fmt.Sprintf("h%d.example", i), port: 443, reason: "no_rule"}, netip.Addr{}, uint64(i), 1)
		if i%20 == 0 { // 2,000 of 42,000: above 1/50
			top.add(heavy, netip.Addr{}, 7, 1)
		}
	}
	if len(top.items) > 50 || len(top.idx) > 50 {
		t.Fatalf("%d items, %d index entries; k is 50", len(top.items), len(top.idx))
	}
	i, ok := top.idx[heavy]
	if !ok {
		t.Fatal("the heavy hitter was evicted")
	}
	if it := top.items[i]; it.count < 2000 || it.count-it.err > 2000 {
		t.Errorf("heavy hitter count %d (err %d), want at least its 2000 refusals", it.count, it.err)
	}
}

func TestWindow(t *testing.T) {
	w := newWindow(time.Hour, 12, 10)
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	k1 := refusalKey{host: "a.test", port: 443, reason: "no_rule"}
	k2 := refusalKey{host: "b.test", port: 443, reason: "no_rule"}
	w.add(t0, k1, netip.Addr{}, 1, 1)
	w.add(t0.Add(10*time.Minute), k1, netip.Addr{}, 2, 2)
	w.add(t0.Add(30*time.Minute), k2, netip.Addr{}, 1, 1)

	got := w.top(t0.Add(40*time.Minute), 10)
	if len(got) != 2 || got[0].key != k1 || got[0].count != 3 || got[0].clients.count() != 2 || got[1].key != k2 {
		t.Fatalf("top at +40m = %+v", got)
	}
	// An hour and a bit later the first two buckets are out of the window.
	got = w.top(t0.Add(65*time.Minute), 10)
	if len(got) != 2 || got[0].key != k1 || got[0].count != 2 || got[1].key != k2 {
		t.Errorf("top at +65m = %+v, want a.test (2 left) then b.test (1)", got)
	}
	// A bucket reused after a full turn of the ring forgets what it held.
	w.add(t0.Add(2*time.Hour), k2, netip.Addr{}, 1, 5)
	got = w.top(t0.Add(2*time.Hour), 10)
	if len(got) != 1 || got[0].key != k2 || got[0].count != 5 {
		t.Errorf("top at +2h = %+v, want only b.test with 5", got)
	}
	if got := w.top(t0.Add(2*time.Hour), 0); len(got) != 0 {
		t.Errorf("top 0 = %v", got)
	}
}
