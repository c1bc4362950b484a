package main

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mdmproxy/mdmproxy/proxy"
)

// newRegistry holds every series /metrics serves: Go and process metrics and the proxy's own.
func newRegistry(srv *proxy.Server, sink *eventSink) *prometheus.Registry {
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
	counter("tunnel_client_bytes_total", "Bytes from clients through ended tunnels.", &m.BytesUp)
	counter("tunnel_destination_bytes_total", "Bytes to clients through ended tunnels.", &m.BytesDown)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "mdmproxy", Name: "tunnels_open", Help: "Spliced tunnels open now."},
		func() float64 { return float64(m.TunnelsOpen.Load()) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "mdmproxy", Name: "events_dropped_total", Help: "Events that could not be shipped."},
		func() float64 { return float64(sink.cur.Load().Dropped()) }))
	return reg
}
