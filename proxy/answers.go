package proxy

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// TTLLookupFunc resolves a name to addresses and says how long the answers may be kept (the
// smallest TTL of the records used).
type TTLLookupFunc func(ctx context.Context, name string) ([]netip.Addr, time.Duration, error)

// Bounds of the answer cache: a device population asks for a few hundred MDM names at most, so
// these are far above normal use and only stop a flood of made-up SNIs from growing memory.
const (
	maxAnsweredNames = 4096
	maxAnswersKept   = 32 // per name; rotating pools (mtalk.google.com) hand out a handful
	maxAnswerTTL     = 24 * time.Hour
)

// answerCache keeps, for each name, the addresses DNS answered for it until their TTL ends.
// Names behind rotating or geo DNS answer differently from one lookup to the next; a device
// connected to an address it got a minute ago, and that address must still count as the
// name's. The zero value is ready to use.
type answerCache struct {
	mu    sync.Mutex
	names map[string][]answer
	now   func() time.Time // tests: a fake clock; nil is time.Now
}

// answer is one address seen for a name, and when it stops counting.
type answer struct {
	addr    netip.Addr
	expires time.Time
}

func (c *answerCache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// has reports whether name had addr among its answers, unexpired.
func (c *answerCache) has(name string, addr netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	for _, a := range c.names[name] {
		if a.addr == addr && now.Before(a.expires) {
			return true
		}
	}
	return false
}

// add records the answers of one lookup of name, kept for ttl.
func (c *answerCache) add(name string, addrs []netip.Addr, ttl time.Duration) {
	if ttl <= 0 || len(addrs) == 0 {
		return
	}
	ttl = min(ttl, maxAnswerTTL)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	if c.names == nil {
		c.names = make(map[string][]answer)
	}
	kept, ok := c.names[name]
	if !ok && len(c.names) >= maxAnsweredNames {
		c.evict(now)
	}
	// Drop what expired, refresh what is answered again, then add the new addresses; the
	// oldest go first when a name has more than maxAnswersKept.
	live := kept[:0]
	for _, a := range kept {
		if now.Before(a.expires) && !containsAddr(addrs, a.addr) {
			live = append(live, a)
		}
	}
	for _, a := range addrs {
		live = append(live, answer{addr: a, expires: now.Add(ttl)})
	}
	if len(live) > maxAnswersKept {
		live = append(live[:0:0], live[len(live)-maxAnswersKept:]...)
	}
	c.names[name] = live
}

// evict makes room for one more name: it drops every name whose answers all expired, and when
// none did, one name at random (map order), so a flood of new names cannot grow the cache.
func (c *answerCache) evict(now time.Time) {
	for name, as := range c.names {
		expired := true
		for _, a := range as {
			if now.Before(a.expires) {
				expired = false
				break
			}
		}
		if expired {
			delete(c.names, name)
		}
	}
	if len(c.names) < maxAnsweredNames {
		return
	}
	for name := range c.names {
		delete(c.names, name)
		return
	}
}

func (c *answerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.names)
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, b := range as {
		if b == a {
			return true
		}
	}
	return false
}

// resolvesTo reports whether name resolves to addr: through the static hosts when they hold
// the name (and only them, as Resolve does), otherwise through DNS, counting any answer seen
// for the name within its TTL. A fresh lookup is made whenever the cache does not already
// vouch for addr, and its answers are kept.
func (s *Server) resolvesTo(ctx context.Context, hosts map[string][]netip.Addr, name string, addr netip.Addr) (bool, error) {
	if static, ok := hosts[name]; ok {
		return containsAddr(static, addr), nil
	}
	if s.answers.has(name, addr) {
		return true, nil
	}
	addrs, ttl, err := s.lookupTTL(ctx, name)
	if err != nil {
		return false, err
	}
	s.answers.add(name, addrs, ttl)
	return containsAddr(addrs, addr) || s.answers.has(name, addr), nil
}

// lookupTTL is Server.LookupTTL; without one, Server.Lookup (answers not kept), and without
// that the resolver the host is configured with (/etc/resolv.conf), the one the devices use.
func (s *Server) lookupTTL(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	var addrs []netip.Addr
	var ttl time.Duration
	var err error
	switch {
	case s.LookupTTL != nil:
		addrs, ttl, err = s.LookupTTL(ctx, name)
	case s.Lookup != nil:
		addrs, err = Resolve(ctx, nil, s.Lookup, name)
	default:
		addrs, ttl, err = systemDNS.lookup(ctx, name)
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, ttl, err
}
