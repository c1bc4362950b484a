package proxy

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func addrs(ss ...string) []netip.Addr {
	as := make([]netip.Addr, len(ss))
	for i, s := range ss {
		as[i] = netip.MustParseAddr(s)
	}
	return as
}

// A name behind rotating DNS answers differently each time; every answer counts until its TTL
// ends, and not a moment longer.
func TestAnswerCacheKeepsAnswersForTheirTTL(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	c := answerCache{now: clk.now}
	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	c.add("mtalk.example", []netip.Addr{a1}, 60*time.Second)
	clk.t = clk.t.Add(30 * time.Second)
	c.add("mtalk.example", []netip.Addr{a2}, 60*time.Second)
	if !c.has("mtalk.example", a1) || !c.has("mtalk.example", a2) {
		t.Fatal("both answers of the last minute must count")
	}
	if c.has("other.example", a1) {
		t.Fatal("an answer counts for another name")
	}
	clk.t = clk.t.Add(31 * time.Second) // a1 is 61 s old, a2 31 s
	if c.has("mtalk.example", a1) {
		t.Error("an answer counts after its TTL")
	}
	if !c.has("mtalk.example", a2) {
		t.Error("an answer within its TTL does not count")
	}
	// Answered again: the TTL starts over.
	c.add("mtalk.example", []netip.Addr{a1}, 60*time.Second)
	clk.t = clk.t.Add(40 * time.Second)
	if !c.has("mtalk.example", a1) || c.has("mtalk.example", a2) {
		t.Error("a refreshed answer must count and an expired one must not")
	}
	// A TTL of 0 keeps nothing.
	c.add("zero.example", []netip.Addr{a1}, 0)
	if c.has("zero.example", a1) {
		t.Error("an answer with TTL 0 was kept")
	}
}

// The cache is bounded in names and in answers per name, whatever a flood of SNIs does.
func TestAnswerCacheBounds(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	c := answerCache{now: clk.now}
	for i := range maxAnsweredNames + 10 {
		c.add("n"+strconv.Itoa(i)+".example", addrs("192.0.2.1"), time.Hour)
	}
	if n := c.len(); n > maxAnsweredNames {
		t.Fatalf("%d names cached, bound is %d", n, maxAnsweredNames)
	}
	if !c.has("n"+strconv.Itoa(maxAnsweredNames+9)+".example", netip.MustParseAddr("192.0.2.1")) {
		t.Error("the newest name was not kept")
	}
	// Expired names go first.
	clk.t = clk.t.Add(2 * time.Hour)
	c.add("fresh.example", addrs("192.0.2.9"), time.Minute)
	if n := c.len(); n != 1 {
		t.Errorf("after every other name expired, %d names are cached, want 1", n)
	}

	for i := range maxAnswersKept + 5 {
		c.add("pool.example", []netip.Addr{netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})}, time.Hour)
	}
	c.mu.Lock()
	kept := len(c.names["pool.example"])
	c.mu.Unlock()
	if kept != maxAnswersKept {
		t.Errorf("%d answers kept for one name, bound is %d", kept, maxAnswersKept)
	}
	if !c.has("pool.example", netip.AddrFrom4([4]byte{198, 51, 100, byte(maxAnswersKept + 4)})) ||
		c.has("pool.example", netip.AddrFrom4([4]byte{198, 51, 100, 0})) {
		t.Error("the oldest answers must go first")
	}
}

// resolvesTo uses the static hosts alone when they hold the name, and otherwise DNS with the
// answers of earlier lookups still counting.
func TestResolvesTo(t *testing.T) {
	answers := [][]netip.Addr{addrs("203.0.113.1"), addrs("203.0.113.2")}
	calls := 0
	srv := &Server{LookupTTL: func(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
		if name == "broken.example" {
			return nil, 0, errors.New("SERVFAIL")
		}
		a := answers[calls%len(answers)]
		calls++
		return a, time.Minute, nil
	}}
	hosts := map[string][]netip.Addr{"static.example": addrs("198.51.100.7")}
	ctx := context.Background()
	check := func(name, addr string, want bool) {
		t.Helper()
		got, err := srv.resolvesTo(ctx, hosts, name, netip.MustParseAddr(addr))
		if err != nil || got != want {
			t.Errorf("resolvesTo(%s, %s) = %v, %v; want %v", name, addr, got, err, want)
		}
	}
	check("static.example", "198.51.100.7", true)
	check("static.example", "203.0.113.1", false) // hosts hold the name: DNS is not asked
	if calls != 0 {
		t.Fatalf("DNS asked %d times for names in hosts", calls)
	}
	check("rot.example", "203.0.113.1", true)  // first lookup answers .1
	check("rot.example", "203.0.113.2", true)  // not cached: the second lookup answers .2
	check("rot.example", "203.0.113.1", true)  // cached from the first lookup
	check("rot.example", "203.0.113.9", false) // never answered
	if _, err := srv.resolvesTo(ctx, hosts, "broken.example", netip.MustParseAddr("203.0.113.1")); err == nil {
		t.Error("a failed lookup must be an error, not a mismatch")
	}
}
