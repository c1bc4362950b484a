package proxy

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// Metrics are the server's counters, read by the admin endpoint.
type Metrics struct {
	Connections atomic.Int64 // connections accepted
	TunnelsOpen atomic.Int64 // spliced tunnels open now
	Spliced     atomic.Int64 // tunnels spliced
	Forwarded   atomic.Int64 // plain-HTTP requests forwarded
	Denied      atomic.Int64 // connections refused by policy or bad input
	Failed      atomic.Int64 // connections allowed but not established (resolve, dial)
	BytesUp     atomic.Int64 // bytes from clients through ended tunnels
	BytesDown   atomic.Int64 // bytes to clients through ended tunnels
	Panics      atomic.Int64 // connection goroutines and pumps that panicked and were recovered

	Intercepted       atomic.Int64 // connections accepted on transparent listeners
	SNIResolveChecks  atomic.Int64 // intercepted flows whose SNI had to resolve to the original address
	SNIResolveRefused atomic.Int64 // of those, refused: the SNI did not resolve there (or not at all)
}

// observers are the server's labelled counters and histograms. Nothing here is touched per
// byte moved: decisions and ends are counted once per event (Server.emit), the histograms
// once per set-up or tunnel, and bytes and open tunnels per rule are read from the tunnels'
// own atomics when /metrics is scraped (tunnelCollector).
type observers struct {
	decisions *prometheus.CounterVec // action, rule, reason
	ends      *prometheus.CounterVec // reason
	hello     prometheus.Histogram   // from the 200 to a whole ClientHello
	dial      prometheus.Histogram   // connecting to the destination
	tunnel    prometheus.Histogram   // a tunnel's life, from accept to its end event

	// counters caches the labelled counters by their labels: WithLabelValues hashes and
	// checks the label values and takes a lock on every call, several times the cost of a
	// map lookup, twice per tunnel. The label sets are few (actions, rules, reasons).
	counters sync.Map // counterKey -> prometheus.Counter
}

// counterKey names one labelled counter: of ends (by reason) or of decisions.
type counterKey struct {
	end                  bool
	action, rule, reason string
}

// counter returns the counter for k, made on first use.
func (o *observers) counter(k counterKey) prometheus.Counter {
	if c, ok := o.counters.Load(k); ok {
		return c.(prometheus.Counter)
	}
	var c prometheus.Counter
	if k.end {
		c = o.ends.WithLabelValues(k.reason)
	} else {
		c = o.decisions.WithLabelValues(k.action, k.rule, k.reason)
	}
	o.counters.Store(k, c)
	return c
}

// Buckets: set-up phases on a LAN take milliseconds, over a slow uplink up to the time-outs
// (5 s hello, 10 s connect); push tunnels live for hours, check-ins for seconds.
var (
	setupBuckets  = prometheus.ExponentialBuckets(0.001, 2.5, 11) // 1 ms to 9.5 s
	tunnelBuckets = prometheus.ExponentialBuckets(0.1, 4, 12)     // 100 ms to 49 h
)

func newObservers() *observers {
	const ns = "mdmproxy"
	o := &observers{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "decisions_total",
			Help: "Decisions (one per connection or plain request, as its decision event), by action, rule and reason."},
			[]string{"action", "rule", "reason"}),
		ends: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tunnel_ends_total",
			Help: "Tunnels ended, by reason (eof, idle_timeout, reset, shutdown, policy_revoked, ...)."},
			[]string{"reason"}),
		hello: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "clienthello_duration_seconds",
			Help: "Time from the 200 to a whole ClientHello.", Buckets: setupBuckets}),
		dial: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "dial_duration_seconds",
			Help: "Time to connect to the destination, for connections that succeeded.", Buckets: setupBuckets}),
		tunnel: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "tunnel_duration_seconds",
			Help: "Life of ended tunnels, from accept to the end event.", Buckets: tunnelBuckets}),
	}
	// From the start, so an alert on revocations by reloads has a zero to start from.
	o.ends.WithLabelValues(allowlist.ReasonPolicyRevoked.String())
	return o
}

// obs returns the server's observers, made on first use so the zero Server works.
func (s *Server) obs() *observers {
	s.obsOnce.Do(func() { s.observers = newObservers() })
	return s.observers
}

// observe counts an event as it is emitted: a decision by action, rule and reason, or a
// tunnel's end by reason and duration.
func (s *Server) observe(e *events.Event) {
	o := s.obs()
	switch e.Action {
	case events.ActionEnd:
		if e.Method != "" {
			return // a plain request's end, not a tunnel's
		}
		o.counter(counterKey{end: true, reason: e.Reason}).Inc()
		o.tunnel.Observe(e.Duration.Seconds())
	case events.ActionDropped:
	default:
		o.counter(counterKey{action: string(e.Action), rule: e.Rule, reason: e.Reason}).Inc()
	}
}

// Collectors returns the server's Prometheus collectors: decisions, ends, the set-up and
// tunnel histograms, and open tunnels and bytes by rule.
func (s *Server) Collectors() []prometheus.Collector {
	o := s.obs()
	return []prometheus.Collector{o.decisions, o.ends, o.hello, o.dial, o.tunnel, tunnelCollector{s}}
}

var (
	descRuleOpen = prometheus.NewDesc("mdmproxy_rule_tunnels_open",
		"Spliced tunnels open now, by the rule that allowed them.", []string{"rule"}, nil)
	descRuleBytes = prometheus.NewDesc("mdmproxy_tunnel_bytes_total",
		"Bytes through tunnels as they move, by rule and direction (source: from the client; destination: to the client).",
		[]string{"rule", "direction"}, nil)
)

// tunnelCollector reads open tunnels and their byte counts at scrape time. The pumps already
// add every chunk they move to their tunnel's atomics; summing those here, with what ended
// tunnels moved, costs the data path nothing.
type tunnelCollector struct{ s *Server }

func (c tunnelCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRuleOpen
	ch <- descRuleBytes
}

// ruleTotals is one rule's figures at a scrape.
type ruleTotals struct {
	open     int
	up, down int64
}

func (c tunnelCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	// Under the lock, so a tunnel ending now is counted once: either open here or in ended.
	s.mu.Lock()
	byRule := make(map[string]*ruleTotals, len(s.ended)+1)
	for rule, b := range s.ended {
		byRule[rule] = &ruleTotals{up: b.up, down: b.down}
	}
	for t := range s.tunnels {
		r := byRule[t.facts.rule]
		if r == nil {
			r = &ruleTotals{}
			byRule[t.facts.rule] = r
		}
		r.open++
		r.up += t.up.Load()
		r.down += t.down.Load()
	}
	s.mu.Unlock()
	for rule, r := range byRule {
		ch <- prometheus.MustNewConstMetric(descRuleOpen, prometheus.GaugeValue, float64(r.open), rule)
		ch <- prometheus.MustNewConstMetric(descRuleBytes, prometheus.CounterValue, float64(r.up), rule, "source")
		ch <- prometheus.MustNewConstMetric(descRuleBytes, prometheus.CounterValue, float64(r.down), rule, "destination")
	}
}

// endedBytes is what a rule's ended tunnels moved each way.
type endedBytes struct{ up, down int64 }

// metricsState is the part of Server the metrics keep.
type metricsState struct {
	obsOnce   sync.Once
	observers *observers
	ended     map[string]endedBytes // by rule; guarded by Server.mu
}
