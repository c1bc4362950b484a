package events

import (
	"net/netip"
	"time"
)

// aggregator turns a flood of identical denials into one event: denials with
// the same client, target and reason within the window are counted, and
// when the window (opened by the first of them) closes, one event goes out
// carrying the first denial's facts, the count and the first and last time.
// A lone denial goes out as it is, when its window closes. Only denials are
// aggregated: allowed flows are never delayed, merged or sampled.
//
// It runs on a goroutine of its own: Emit only copies the event into a
// bounded channel, so the data path neither waits for the aggregator nor
// takes a lock. When the channel or the table is full, the denial is shipped
// on its own, unaggregated, rather than lost.
type aggregator struct {
	window time.Duration
	ship   func(*Event)
	in     chan Event
	done   chan struct{}
	now    func() time.Time // time.Now; tests replace it
}

// aggKey is what makes two denials identical.
type aggKey struct {
	client netip.Addr
	domain string
	dst    netip.Addr
	port   uint16
	raw    string
	reason string
}

// pending is one window's denials.
type pending struct {
	ev       Event // the first, with Count, FirstTime and LastTime kept up to date
	deadline time.Time
}

const (
	// aggQueue bounds the denials waiting for the aggregator.
	aggQueue = 4096
	// maxAggregated bounds the open windows: a scan of a whole network
	// from many clients must not grow the table without limit.
	maxAggregated = 10000
)

func newAggregator(window time.Duration, ship func(*Event)) *aggregator {
	a := &aggregator{window: window, ship: ship, in: make(chan Event, aggQueue), done: make(chan struct{}), now: time.Now}
	go a.run()
	return a
}

// take hands e to the aggregator if it is a denial; false means the caller
// ships e itself (not a denial, or the aggregator is full).
func (a *aggregator) take(e *Event) bool {
	if e.Action != ActionDeny || e.Count > 1 {
		return false
	}
	ev := *e
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	select {
	case a.in <- ev:
		return true
	default:
		return false
	}
}

// run counts denials and ships each window's event when it closes.
func (a *aggregator) run() {
	defer close(a.done)
	open := make(map[aggKey]*pending)
	// Windows close in the order they opened, so a FIFO of keys tells which
	// is next; the timer is set for the oldest.
	var order []aggKey
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flushDue := func(all bool) {
		now := a.now()
		for len(order) > 0 {
			k := order[0]
			p := open[k]
			if !all && p.deadline.After(now) {
				timer.Reset(p.deadline.Sub(now))
				return
			}
			order = order[1:]
			delete(open, k)
			a.ship(&p.ev)
		}
	}
	for {
		select {
		case ev, ok := <-a.in:
			if !ok {
				flushDue(true)
				return
			}
			_, raw := ev.Domain()
			k := aggKey{client: ev.SourceIP, domain: ev.DestDomain, dst: ev.DestIP, port: ev.DestPort, raw: raw, reason: ev.Reason}
			if p, ok := open[k]; ok {
				p.ev.Count++
				if ev.Time.After(p.ev.LastTime) {
					p.ev.LastTime = ev.Time
				}
				continue
			}
			if len(open) >= maxAggregated {
				a.ship(&ev)
				continue
			}
			ev.Count, ev.FirstTime, ev.LastTime = 1, ev.Time, ev.Time
			open[k] = &pending{ev: ev, deadline: a.now().Add(a.window)}
			order = append(order, k)
			if len(order) == 1 {
				timer.Reset(a.window)
			}
		case <-timer.C:
			flushDue(false)
		}
	}
}

// close ships every open window now and stops the goroutine. No take may
// run during or after close (the Logger's closed flag sees to that).
func (a *aggregator) close() {
	close(a.in)
	<-a.done
}
