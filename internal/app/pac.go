package app

import (
	"fmt"
	"net/url"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/config"
	"github.com/mdmproxy/mdmproxy/proxy/pac"
)

// PAC generates the PAC file of a configuration and its compiled policy (Settings(cfg).Policy),
// as the server serves it and `mdmproxy pac` prints it.
func PAC(cfg *config.Config, pol *allowlist.Policy) (*pac.File, error) {
	o := pac.Options{Policy: pol, PolicyHash: cfg.PolicySpec().Hash(), Direct: cfg.PAC.Direct}
	var err error
	if o.MDM, err = pac.ParseRoute(cfg.PAC.MDM); err != nil {
		return nil, fmt.Errorf("pac.mdm: %v", err)
	}
	if o.Rest, err = pac.ParseRoute(cfg.PACRest()); err != nil {
		return nil, fmt.Errorf("pac.rest: %v", err)
	}
	if o.Rest == pac.Upstream {
		// The PAC names the upstream's address only: its credentials stay with the proxy.
		u, err := url.Parse(cfg.Upstream)
		if err != nil {
			return nil, fmt.Errorf("upstream: %v", err)
		}
		o.Upstream = u.Host
	}
	return pac.Generate(o)
}

// OwnNames are the names devices reach the proxy at (pac.proxy, canonical), for
// proxy.Settings.OwnNames.
func OwnNames(cfg *config.Config) ([]string, error) {
	if cfg.PAC.Proxy == "" {
		return nil, nil
	}
	n, err := pac.CanonicalHostPort(cfg.PAC.Proxy)
	if err != nil {
		return nil, fmt.Errorf("pac.proxy: %v", err)
	}
	return []string{n}, nil
}
