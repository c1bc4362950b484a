package status

import (
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdmproxy/mdmproxy/events"
)

// Sizes that bound the observer's memory whatever the traffic.
const (
	queueSize   = 4096                  // records between two drains; more are dropped and counted
	drainEvery  = 50 * time.Millisecond // how often the observer's goroutine wakes
	topPerSlot  = 100                   // refused targets kept per time bucket (Space-Saving)
	maxRuleKeys = 20000                 // rule names counted; hits of further names go to otherRules
	maxHostLen  = 253                   // longest DNS name; longer targets are cut
	maxReason   = 64                    // reason tokens are short; detail after them is cut
)

// otherRules counts the hits of rule names beyond maxRuleKeys.
const otherRules = "(other rules)"

// defaultActionRule names hits of connections no rule allowed (default_action allow or upstream).
const defaultActionRule = "(default_action)"

// record is what the observer keeps of one event: a fixed-size value copied into the queue, so
// that Emit allocates nothing and never blocks.
type record struct {
	refused bool
	n       uint32
	client  netip.Addr
	host    string
	addr    netip.Addr
	port    uint16
	reason  string
	rule    string
}

// Observer takes decision events off the event stream, on its own goroutine, and keeps the
// refusal and rule-hit statistics of the status page in bounded memory. Emit is what the
// proxy's data path calls: it copies a few fields into a bounded queue and returns; a full
// queue drops the event (Dropped counts them) rather than wait.
type Observer struct {
	queue   chan record
	dropped atomic.Uint64
	done    chan struct{}
	stopped chan struct{}
	now     func() time.Time

	mu     sync.Mutex
	hour   *window
	day    *window
	hits   map[string]uint64
	events uint64
}

// NewObserver starts an observer; Close stops it.
func NewObserver() *Observer {
	o := newObserver(time.Now)
	go o.run()
	return o
}

// newObserver makes an observer without starting its goroutine (tests drain it by hand).
func newObserver(now func() time.Time) *Observer {
	o := &Observer{
		queue: make(chan record, queueSize), done: make(chan struct{}), stopped: make(chan struct{}), now: now,
		hour: newWindow(time.Hour, 12, topPerSlot), day: newWindow(24*time.Hour, 24, topPerSlot),
		hits: map[string]uint64{},
	}
	return o
}

// Emit records a decision event; end events and others are ignored. It never blocks.
func (o *Observer) Emit(e *events.Event) {
	var r record
	switch {
	case e.Action == events.ActionDeny:
		r = record{refused: true, reason: e.Reason}
	case e.EnforceAction == events.ActionDeny:
		// Report mode: let through, but enforce would have refused it.
		r = record{refused: true, reason: e.EnforceReason}
	case e.Action == events.ActionSplice || e.Action == events.ActionAllow || e.Action == events.ActionUpstream:
		if e.Outcome == events.OutcomeFailure {
			return // allowed but never established: not a hit
		}
		r = record{rule: e.Rule}
	default:
		return
	}
	r.n = uint32(max(e.Count, 1))
	r.client, r.host, r.addr, r.port = e.SourceIP, e.DestDomain, e.DestIP, e.DestPort
	if r.host == "" && e.SNI != "" {
		r.host = e.SNI
	}
	select {
	case o.queue <- r:
	default:
		o.dropped.Add(1)
	}
}

// Dropped is the number of events the observer had no room for.
func (o *Observer) Dropped() uint64 { return o.dropped.Load() }

// Close stops the observer's goroutine.
func (o *Observer) Close() {
	select {
	case <-o.done:
	default:
		close(o.done)
	}
	<-o.stopped
}

// run drains the queue every drainEvery: the data path never wakes this goroutine, and the
// goroutine's wake-ups do not depend on the traffic.
func (o *Observer) run() {
	defer close(o.stopped)
	tick := time.NewTicker(drainEvery)
	defer tick.Stop()
	for {
		select {
		case <-o.done:
			o.drain()
			return
		case <-tick.C:
			o.drain()
		}
	}
}

// drain takes every queued record into the statistics.
func (o *Observer) drain() {
	if len(o.queue) == 0 {
		return
	}
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		select {
		case r := <-o.queue:
			o.take(now, r)
		default:
			return
		}
	}
}

func (o *Observer) take(now time.Time, r record) {
	o.events++
	if !r.refused {
		name := r.rule
		if name == "" {
			name = defaultActionRule
		}
		if _, ok := o.hits[name]; !ok && len(o.hits) >= maxRuleKeys {
			name = otherRules
		}
		o.hits[name] += uint64(r.n)
		return
	}
	host := r.host
	if host == "" && r.addr.IsValid() {
		host = r.addr.String()
	}
	reason, _, _ := strings.Cut(r.reason, " ")
	key := refusalKey{host: host[:min(len(host), maxHostLen)], port: r.port, reason: reason[:min(len(reason), maxReason)]}
	client := hashAddr(r.client)
	o.hour.add(now, key, r.addr, client, uint64(r.n))
	o.day.add(now, key, r.addr, client, uint64(r.n))
}

// Flush takes what is queued into the statistics now (tests, and a page about to be shown).
func (o *Observer) Flush() { o.drain() }
