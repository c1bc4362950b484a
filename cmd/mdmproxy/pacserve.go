package main

import (
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/config"
	"github.com/mdmproxy/mdmproxy/internal/app"
	"github.com/mdmproxy/mdmproxy/proxy"
	"github.com/mdmproxy/mdmproxy/proxy/pac"
)

// pacServer serves the PAC file: on the proxy listener through proxy.Server.NonProxy, and on
// pac.listen, a listener that serves nothing else, when it is set.
type pacServer struct {
	handler *pac.Handler
	http    *http.Server // nil without pac.listen
	ln      net.Listener
}

// startPAC generates the file of cfg, mounts it on srv and opens pac.listen if set. proxyLn is
// the proxy listener: its port is the one a file fetched on pac.listen names.
func startPAC(cfg *config.Config, pol *allowlist.Policy, srv *proxy.Server, proxyLn net.Listener) (*pacServer, error) {
	p := &pacServer{handler: &pac.Handler{Events: srv.RefusalSink()}} // counted like the proxy's refusals
	commit, err := p.prepare(cfg, pol)
	if err != nil {
		return nil, err
	}
	commit()
	srv.NonProxy = p.handler
	if cfg.PAC.Listen == "" {
		return p, nil
	}
	if p.ln, err = net.Listen("tcp", cfg.PAC.Listen); err != nil {
		return nil, err
	}
	p.http = &http.Server{
		Handler:           p.handler.OwnListener(addrPort(proxyLn.Addr()).Port()),
		ReadHeaderTimeout: cfg.Timeouts.Header,
		IdleTimeout:       cfg.Timeouts.Header,
		WriteTimeout:      time.Minute, // a large policy's file to a slow client, but not forever
		MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
	}
	go p.http.Serve(p.ln)
	return p, nil
}

// prepare generates the file of a new configuration; commit serves it. A reload prepares
// before it changes anything, so a file that cannot be generated rejects the reload.
func (p *pacServer) prepare(cfg *config.Config, pol *allowlist.Policy) (commit func(), err error) {
	f, err := app.PAC(cfg, pol)
	if err != nil {
		return nil, err
	}
	if _, err := app.OwnNames(cfg); err != nil {
		return nil, err
	}
	return func() { p.handler.Update(f, pol, cfg.PAC.Proxy) }, nil // pac.proxy checked just above
}

// addr is pac.listen's bound address, or "" without one.
func (p *pacServer) addr() string {
	if p.ln == nil {
		return ""
	}
	return p.ln.Addr().String()
}

// ownAddrs are the listener addresses of the PAC server, for proxy.Server.OwnAddrs.
func (p *pacServer) ownAddrs() []netip.AddrPort {
	if p.ln == nil {
		return nil
	}
	return []netip.AddrPort{addrPort(p.ln.Addr())}
}

func (p *pacServer) close() {
	if p.http != nil {
		p.http.Close()
	}
}
