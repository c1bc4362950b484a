package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdmproxy/mdmproxy/config"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// TestReadyz: ready only once the policy is loaded and every announced listener is up, and
// not ready from the moment shutdown begins.
func TestReadyz(t *testing.T) {
	st := &adminState{}
	h := adminHandler(st, prometheus.NewRegistry())
	want := func(code int, body string) {
		t.Helper()
		if c, b := get(t, h, "/readyz"); c != code || !strings.Contains(b, body) {
			t.Fatalf("/readyz = %d %q, want %d %q", c, b, code, body)
		}
	}
	want(503, "policy not loaded")
	st.policyLoaded.Store(true)
	want(503, "listeners not up") // none announced yet
	st.expectListeners(2)
	want(503, "listeners not up")
	st.listenerUp()
	want(503, "listeners not up")
	st.listenerUp()
	want(200, "ready")
	st.stopping.Store(true)
	want(503, "shutting down")
	if c, _ := get(t, h, "/healthz"); c != 200 {
		t.Errorf("/healthz while stopping = %d, want 200 (the process still runs)", c)
	}
}

// TestPprofOptIn: /debug/pprof answers 404 unless admin_pprof is on, and follows a change.
func TestPprofOptIn(t *testing.T) {
	st := &adminState{}
	h := adminHandler(st, prometheus.NewRegistry())
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/symbol", "/debug/pprof/heap"} {
		if c, _ := get(t, h, path); c != http.StatusNotFound {
			t.Errorf("GET %s with admin_pprof off = %d, want 404", path, c)
		}
	}
	st.pprof.Store(true)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
		if c, _ := get(t, h, path); c != http.StatusOK {
			t.Errorf("GET %s with admin_pprof on = %d, want 200", path, c)
		}
	}
	st.pprof.Store(false)
	if c, _ := get(t, h, "/debug/pprof/heap"); c != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/heap after admin_pprof went off = %d, want 404", c)
	}
}

// TestAdminServerTimeouts: every time-out that bounds a slow or idle admin client is set, and
// the CPU profile's default 30 s fits in the write time-out.
func TestAdminServerTimeouts(t *testing.T) {
	s := newAdminServer(http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("admin server without a bound: %+v", s)
	}
	if s.WriteTimeout <= 30e9 {
		t.Errorf("write time-out %v cuts /debug/pprof/profile's default 30 s", s.WriteTimeout)
	}
}

// TestListenerCount: /readyz waits for the proxy listener, every transparent listener and the
// PAC's own listener when there is one.
func TestListenerCount(t *testing.T) {
	cfg := &config.Config{}
	if n := listenerCount(cfg); n != 1 {
		t.Errorf("proxy only: %d, want 1", n)
	}
	cfg.Transparent.Listen = []string{"127.0.0.1:3129", "[::1]:3129"}
	cfg.PAC.Listen = "127.0.0.1:8080"
	if n := listenerCount(cfg); n != 4 {
		t.Errorf("proxy, 2 transparent, PAC: %d, want 4", n)
	}
}
