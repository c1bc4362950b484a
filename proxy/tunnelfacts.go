package proxy

import (
	"net/netip"
	"time"

	"github.com/mdmproxy/mdmproxy/events"
)

// tunnelFacts is what a tunnel keeps of its decision event: what its end event repeats, what
// the status page, the metrics by rule and a reload's re-check read. Every tunnel's facts are
// inline; the fields only some tunnels have (behind a balancer, through an upstream, in report
// mode) are behind a pointer that is nil for the rest. A parked tunnel is little more than this
// and its sockets, so keeping the whole events.Event (416 bytes, with fields only other events
// use) per tunnel added about 1 KiB of RSS to each idle tunnel.
type tunnelFacts struct {
	sourceIP, destIP      netip.Addr
	destDomain, sni, rule string
	sourcePort, destPort  uint16
	intercepted, ech      bool
	rare                  *rareFacts // nil when all its fields are zero
}

// rareFacts are the decision event's fields that most tunnels leave zero. Plain-HTTP and
// aggregation fields are kept too, so that an end event always repeats the decision whole.
type rareFacts struct {
	balancer                                        netip.AddrPort
	upstream, url, method, rawTarget, enforceReason string
	enforceAction                                   events.Action
	statusCode, count                               int
	firstTime, lastTime                             time.Time
	dropped                                         uint64
}

// factsOf keeps d's facts. Time, Action, Outcome, Reason, Duration and the byte counts are not
// kept: endEvent sets them on every end event.
func factsOf(d *events.Event) tunnelFacts {
	f := tunnelFacts{
		sourceIP: d.SourceIP, destIP: d.DestIP, destDomain: d.DestDomain, sni: d.SNI, rule: d.Rule,
		sourcePort: d.SourcePort, destPort: d.DestPort, intercepted: d.Intercepted, ech: d.ECH,
	}
	r := rareFacts{
		balancer: d.Balancer, upstream: d.Upstream, url: d.URL, method: d.Method, rawTarget: d.RawTarget,
		enforceReason: d.EnforceReason, enforceAction: d.EnforceAction, statusCode: d.StatusCode,
		count: d.Count, firstTime: d.FirstTime, lastTime: d.LastTime, dropped: d.Dropped,
	}
	if r != (rareFacts{}) {
		f.rare = &r
	}
	return f
}

// event is the decision event as the tunnel keeps it, for endEvent.
func (f *tunnelFacts) event() events.Event {
	e := events.Event{
		SourceIP: f.sourceIP, DestIP: f.destIP, DestDomain: f.destDomain, SNI: f.sni, Rule: f.rule,
		SourcePort: f.sourcePort, DestPort: f.destPort, Intercepted: f.intercepted, ECH: f.ech,
	}
	if r := f.rare; r != nil {
		e.Balancer, e.Upstream, e.URL, e.Method, e.RawTarget = r.balancer, r.upstream, r.url, r.method, r.rawTarget
		e.EnforceReason, e.EnforceAction, e.StatusCode = r.enforceReason, r.enforceAction, r.statusCode
		e.Count, e.FirstTime, e.LastTime, e.Dropped = r.count, r.firstTime, r.lastTime, r.dropped
	}
	return e
}
