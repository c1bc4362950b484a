package main

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mdmproxy/mdmproxy/config"
	"github.com/mdmproxy/mdmproxy/proxy"
)

// policyInfo describes the loaded policy for /metrics (and whoever else reports it).
type policyInfo struct {
	hash     string
	rules    int
	loadedAt time.Time
}

// serveMetrics is the process's own metrics beside the proxy's: the loaded policy and the
// reloads. The zero value works.
type serveMetrics struct {
	policy  atomic.Pointer[policyInfo]
	reloads *prometheus.CounterVec // outcome: success | failure
}

func newServeMetrics() *serveMetrics {
	m := &serveMetrics{reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mdmproxy", Name: "reloads_total",
		Help: "Configuration reloads (SIGHUP or a changed file), by outcome: success, or failure (the running configuration stayed)."},
		[]string{"outcome"})}
	// Both series exist from the start, so a rate or an alert on failures has a zero to start from.
	m.reloads.WithLabelValues(reloadSuccess)
	m.reloads.WithLabelValues(reloadFailure)
	return m
}

const (
	reloadSuccess = "success"
	reloadFailure = "failure"
)

// reloaded counts a reload's outcome.
func (m *serveMetrics) reloaded(ok bool) {
	outcome := reloadFailure
	if ok {
		outcome = reloadSuccess
	}
	m.reloads.WithLabelValues(outcome).Inc()
}

var (
	descPolicyInfo = prometheus.NewDesc("mdmproxy_policy_info",
		"The loaded policy, by its hash (the same on replicas that decide alike); always 1.", []string{"hash"}, nil)
	descPolicyRules = prometheus.NewDesc("mdmproxy_policy_rules",
		"Rules in the loaded policy, preset entries included.", nil, nil)
	descPolicyLoaded = prometheus.NewDesc("mdmproxy_policy_loaded_timestamp_seconds",
		"When the loaded policy was loaded (start or last successful reload), Unix time.", nil, nil)
	descOutputWritten = prometheus.NewDesc("mdmproxy_event_output_written_total",
		"Events written, by output as configured.", []string{"output"}, nil)
	descOutputDropped = prometheus.NewDesc("mdmproxy_event_output_dropped_total",
		"Events an output lost (queue full, write failed, collector down), by output as configured.", []string{"output"}, nil)
	descOutputQueued = prometheus.NewDesc("mdmproxy_event_output_queued",
		"Events waiting in an output's queue now.", []string{"output"}, nil)
	descEventsDropped = prometheus.NewDesc("mdmproxy_events_dropped_total",
		"Events that could not be shipped, all outputs together.", nil, nil)
)

// stateCollector reads the policy and the event outputs at scrape time.
type stateCollector struct {
	m    *serveMetrics
	sink *eventSink
}

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPolicyInfo, descPolicyRules, descPolicyLoaded, descOutputWritten, descOutputDropped, descOutputQueued, descEventsDropped} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	if p := c.m.policy.Load(); p != nil {
		ch <- prometheus.MustNewConstMetric(descPolicyInfo, prometheus.GaugeValue, 1, p.hash)
		ch <- prometheus.MustNewConstMetric(descPolicyRules, prometheus.GaugeValue, float64(p.rules))
		ch <- prometheus.MustNewConstMetric(descPolicyLoaded, prometheus.GaugeValue, float64(p.loadedAt.UnixNano())/1e9)
	}
	outputs, dropped := c.sink.stats()
	for _, o := range outputs {
		ch <- prometheus.MustNewConstMetric(descOutputWritten, prometheus.CounterValue, float64(o.Written), o.Output)
		ch <- prometheus.MustNewConstMetric(descOutputDropped, prometheus.CounterValue, float64(o.Dropped), o.Output)
		ch <- prometheus.MustNewConstMetric(descOutputQueued, prometheus.GaugeValue, float64(o.Queued), o.Output)
	}
	ch <- prometheus.MustNewConstMetric(descEventsDropped, prometheus.CounterValue, float64(dropped))
}

// newRegistry holds every series /metrics serves: Go and process metrics, the proxy's, and
// the process's own. The series of the first release keep their names.
func newRegistry(srv *proxy.Server, sink *eventSink, sm *serveMetrics) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := srv.Metrics()
	counter := func(name, help string, v *atomic.Int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "mdmproxy", Name: name, Help: help},
			func() float64 { return float64(v.Load()) }))
	}
	counter("connections_total", "Client connections accepted.", &m.Connections)
	counter("tunnels_spliced_total", "Tunnels spliced.", &m.Spliced)
	counter("denied_total", "Connections refused by policy or for bad input.", &m.Denied)
	counter("failed_total", "Allowed connections that could not be established (resolve, dial).", &m.Failed)
	counter("tunnel_client_bytes_total", "Bytes from clients through ended tunnels (mdmproxy_tunnel_bytes_total counts them as they move).", &m.BytesUp)
	counter("tunnel_destination_bytes_total", "Bytes to clients through ended tunnels (mdmproxy_tunnel_bytes_total counts them as they move).", &m.BytesDown)
	counter("intercepted_total", "Connections accepted on transparent listeners.", &m.Intercepted)
	counter("sni_resolve_checks_total", "Intercepted flows allowed by a domain rule whose SNI had to resolve to the original destination.", &m.SNIResolveChecks)
	counter("sni_resolve_refused_total", "Of those checks, flows refused because the SNI did not resolve to the original destination (or did not resolve).", &m.SNIResolveRefused)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "mdmproxy", Name: "tunnels_open", Help: "Spliced tunnels open now."},
		func() float64 { return float64(m.TunnelsOpen.Load()) }))
	reg.MustRegister(srv.Collectors()...)
	reg.MustRegister(sm.reloads, stateCollector{m: sm, sink: sink})
	return reg
}

// settingsHash identifies the configuration's policy (allowlist.Spec.Hash).
func settingsHash(cfg *config.Config) string { return cfg.PolicySpec().Hash() }
