package main

import (
	"net/http"
	"net/http/pprof"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mdmproxy/mdmproxy/proxy"
)

// adminHandler serves /healthz (the process runs), /readyz (it accepts connections),
// /metrics (Prometheus) and /debug/pprof on admin_listen, never on the proxy port.
func adminHandler(srv *proxy.Server, sink *eventSink, stopping *atomic.Bool) http.Handler {
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

	mux := http.NewServeMux()
	// Profiles for operators, on the admin listener only (loopback by default).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if stopping.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}
