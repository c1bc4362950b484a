package proxy

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// ownRequest reports whether a proxy-form request is addressed to mdmproxy itself, such as a
// device fetching the PAC URL through the proxy that URL names: its authority is an address
// this server listens on (isOwn), or one of Settings.OwnNames. Such a request is answered by
// NonProxy, never forwarded to ourselves.
func (s *Server) ownRequest(r *http.Request) bool {
	if !r.URL.IsAbs() || r.URL.Scheme != "http" {
		return false
	}
	authority := r.URL.Host
	if r.URL.Port() == "" {
		authority = strings.TrimSuffix(authority, ":") + ":80"
	}
	t, err := allowlist.ParseTarget(authority)
	if err != nil {
		return false
	}
	if t.Name == "" {
		return s.isOwn(netip.AddrPortFrom(t.Addr, t.Port))
	}
	for _, n := range s.settings.Load().OwnNames {
		if n == t.HostPort() {
			return true
		}
	}
	return false
}

// plainHandler sends requests addressed to this proxy to NonProxy and the rest to goproxy.
func (s *Server) plainHandler(gp http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			s.refuseLateConnect(w, r)
			return
		}
		if s.ownRequest(r) {
			s.serveNonProxy(w, r)
			return
		}
		gp.ServeHTTP(w, r)
	})
}
