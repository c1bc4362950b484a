package config

import (
	"github.com/mdmproxy/mdmproxy/allowlist"
)

// notBuiltYet rejects every key whose feature is not built yet. The whole schema is known from
// the first release, so such keys are not "unknown"; they are refused here, by name, until the
// feature lands. When one does, delete its lines (and its test case) from this function.
func notBuiltYet(c *Config) Errors {
	var errs Errors
	no := func(key, msg string) {
		errs = append(errs, Error{Key: key, Msg: msg})
	}

	if c.DefaultAction != allowlist.Deny {
		no("default_action", quote(c.DefaultAction.String())+" is not supported yet; only deny is")
	}
	if c.Upstream != "" {
		no("upstream", "an upstream proxy is not supported yet")
	}
	if c.Mode == ModeReport {
		no("mode", "report mode is not supported yet; only enforce is")
	}
	if len(c.ProxyProtocol.Trusted) > 0 {
		no("proxy_protocol.trusted", "the PROXY protocol is not supported yet")
	}
	if c.Limits.MaxTunnels != 0 {
		no("limits.max_tunnels", "a tunnel limit is not supported yet; leave it 0 (unlimited)")
	}
	if c.Limits.MaxTunnelsPerClient != 0 {
		no("limits.max_tunnels_per_client", "a per-client tunnel limit is not supported yet; leave it 0 (unlimited)")
	}
	return errs
}
