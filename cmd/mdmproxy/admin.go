package main

import (
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mdmproxy/mdmproxy/config"
)

// adminState is what the admin endpoints answer from: readiness and whether /debug/pprof is
// on. The zero value is not ready: the policy is not loaded and no listener is announced.
type adminState struct {
	policyLoaded atomic.Bool
	listenersUp  atomic.Bool  // every listener announced to expectListeners is up
	listening    atomic.Int32 // listeners announced and not yet up
	stopping     atomic.Bool  // shutdown began: not ready, whatever else holds
	pprof        atomic.Bool  // admin_pprof; a reload may turn it on or off
	status       http.Handler // the status page, / and /status.json; nil serves neither
}

// listenerCount is how many listeners the configuration opens besides the admin listener:
// the proxy's, each transparent one, and the PAC's own when pac.listen is set.
func listenerCount(cfg *config.Config) int {
	n := 1 + len(cfg.Transparent.Listen)
	if cfg.PAC.Listen != "" {
		n++
	}
	return n
}

// expectListeners announces n listeners that must be up before /readyz says ready.
func (a *adminState) expectListeners(n int) {
	a.listening.Add(int32(n))
	a.listenersUp.Store(a.listening.Load() == 0)
}

// listenerUp records that one announced listener accepts connections.
func (a *adminState) listenerUp() {
	a.listenersUp.Store(a.listening.Add(-1) == 0)
}

// ready reports whether the proxy should receive traffic, and if not, why.
func (a *adminState) ready() (bool, string) {
	switch {
	case a.stopping.Load():
		return false, "shutting down"
	case !a.policyLoaded.Load():
		return false, "policy not loaded"
	case !a.listenersUp.Load():
		return false, "listeners not up"
	}
	return true, "ready"
}

// Admin server time-outs: a scraper or a probe sends a small request and reads a small answer.
// A connection that dribbles its head, idles, or stops reading is closed, so a few stuck
// clients cannot hold the admin listener's goroutines and descriptors for ever. The write
// time-out leaves room for a 30-second CPU profile (/debug/pprof/profile's default).
const (
	adminReadHeaderTimeout = 5 * time.Second
	adminReadTimeout       = 10 * time.Second
	adminWriteTimeout      = 45 * time.Second
	adminIdleTimeout       = 60 * time.Second
	adminMaxHeaderBytes    = 16 << 10
)

// newAdminServer is the admin listener's HTTP server, with the time-outs above.
func newAdminServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: adminReadHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    adminMaxHeaderBytes,
	}
}

// adminHandler serves /healthz (the process runs), /readyz (it should receive traffic),
// /metrics (Prometheus, from reg) and, only while admin_pprof is on, /debug/pprof. It is for
// admin_listen, never the proxy port.
func adminHandler(st *adminState, reg prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/debug/pprof/", pprofOnly(st, http.HandlerFunc(pprof.Index)))
	mux.Handle("/debug/pprof/cmdline", pprofOnly(st, http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("/debug/pprof/profile", pprofOnly(st, http.HandlerFunc(pprof.Profile)))
	mux.Handle("/debug/pprof/symbol", pprofOnly(st, http.HandlerFunc(pprof.Symbol)))
	mux.Handle("/debug/pprof/trace", pprofOnly(st, http.HandlerFunc(pprof.Trace)))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if st.status != nil {
		mux.Handle("GET /{$}", st.status)
		mux.Handle("GET /status.json", st.status)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := st.ready(); !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}

// pprofOnly serves h while admin_pprof is on and 404 otherwise, as if the path did not exist.
func pprofOnly(st *adminState, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !st.pprof.Load() {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
