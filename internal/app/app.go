// Package app assembles the running parts of mdmproxy from a loaded configuration: the proxy's
// settings snapshot and the event stream's configuration. `mdmproxy serve`, `validate`,
// `check`, the reload and the benchmark tools all build from here, so a configuration key is
// wired into the runtime in one place and a profiled proxy cannot drift from the shipped one.
//
//	cfg, err := config.Load(config.LoadOptions{Path: path})
//	set, err := app.Settings(cfg)  // for proxy.Server.Update
//	ec := app.Events(cfg)          // for events.New
package app

import (
	"net/netip"
	"os"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/config"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/proxy"
)

// Settings compiles a configuration into the proxy's settings snapshot.
func Settings(cfg *config.Config) (*proxy.Settings, error) {
	pol, err := allowlist.Compile(cfg.PolicySpec())
	if err != nil {
		return nil, err
	}
	hosts := make(map[string][]netip.Addr, len(cfg.Hosts))
	for _, h := range cfg.Hosts {
		hosts[h.Name] = append(hosts[h.Name], allowlist.CanonicalAddr(h.IP))
	}
	t, l := cfg.Timeouts, cfg.Limits
	set := &proxy.Settings{
		Policy:   pol,
		Hosts:    hosts,
		Timeouts: proxy.Timeouts{Header: t.Header, Hello: t.Hello, Connect: t.Connect, Idle: t.Idle, HalfClose: t.HalfClose},
		Limits: proxy.Limits{MaxHeaderBytes: l.MaxHeaderBytes, MaxHelloBytes: l.MaxHelloBytes,
			MaxTunnels: l.MaxTunnels, MaxTunnelsPerClient: l.MaxTunnelsPerClient},
		ProxyProtocolTrusted: cfg.ProxyProtocol.Trusted,
	}
	if cfg.Upstream != "" {
		if set.Upstream, err = proxy.ParseUpstream(cfg.Upstream, cfg.UpstreamForwardedFor); err != nil {
			return nil, err
		}
	}
	if set.OwnNames, err = OwnNames(cfg); err != nil {
		return nil, err
	}
	return set, nil
}

// Events is the event stream's part of the configuration. The observer name is the host's.
func Events(cfg *config.Config) events.Config {
	ec := events.Config{Level: cfg.Log.Level, Aggregate: cfg.Log.Aggregate}
	for _, o := range cfg.Log.Outputs {
		oc := events.OutputConfig{Format: o.Format, Output: o.Output, Level: o.Level,
			TLS: events.TLSConfig{CA: o.TLS.CA, Cert: o.TLS.Cert, Key: o.TLS.Key, ServerName: o.TLS.ServerName}}
		if r := o.Rotate; r.Set {
			oc.Rotate = &events.Rotate{MaxSizeMB: r.MaxSizeMB, MaxBackups: r.MaxBackups, MaxAgeDays: r.MaxAgeDays, Compress: r.Compress}
		}
		ec.Outputs = append(ec.Outputs, oc)
	}
	ec.Observer, _ = os.Hostname()
	return ec
}

// Validate checks what Load cannot: that the policy compiles and the event outputs can be
// planned. It is what `mdmproxy validate` runs after Load.
func Validate(cfg *config.Config) (*proxy.Settings, error) {
	set, err := Settings(cfg)
	if err != nil {
		return nil, err
	}
	if err := events.Validate(Events(cfg)); err != nil {
		return nil, err
	}
	return set, nil
}
