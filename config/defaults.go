package config

import (
	_ "embed"
	"net/netip"
	"slices"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// Values of mode.
const (
	ModeEnforce = "enforce"
	ModeReport  = "report"
)

// defaultYAML is the policy served when no --config is given: Apple and Google push allowed,
// everything else denied, JSON events on stdout. It is also a commented template for admins.
//
//go:embed default.yaml
var defaultYAML []byte

// defaultFileName names the embedded file in error messages.
const defaultFileName = "(embedded default.yaml)"

// DefaultYAML returns the text of the embedded default configuration (a template to copy).
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// Default returns the embedded default configuration, loaded without environment or flags. It
// panics only if the embedded file itself is broken, which a test rules out.
func Default() *Config {
	c, err := Load(LoadOptions{Env: []string{}})
	if err != nil {
		panic("config: the embedded default.yaml is invalid: " + err.Error())
	}
	return c
}

// schemaDefaults returns a fresh Config holding the value of every key a file leaves out.
func schemaDefaults() *Config {
	return &Config{
		Listen:      "0.0.0.0:3128",
		AdminListen: "127.0.0.1:9090",
		Clients: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.0/8"),
			netip.MustParsePrefix("::1/128"),
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("172.16.0.0/12"),
			netip.MustParsePrefix("192.168.0.0/16"),
			netip.MustParsePrefix("fc00::/7"),
		},
		DefaultAction:        allowlist.Deny,
		UpstreamForwardedFor: true,
		Mode:                 ModeEnforce,
		DenyCIDRs:            slices.Clone(allowlist.DefaultDenyCIDRs),
		Timeouts: Timeouts{
			Header:        10 * time.Second,
			Hello:         5 * time.Second,
			Connect:       10 * time.Second,
			Idle:          10 * time.Minute,
			HalfClose:     60 * time.Second,
			ShutdownGrace: 30 * time.Second,
		},
		Limits: Limits{
			MaxHeaderBytes: 65536,
			MaxHelloBytes:  65536,
		},
		Log: Log{
			Level: "info",
			// Outputs: decoded from log.format/log.output (short form) when log.outputs is unset.
		},
		PAC:         PAC{MDM: "proxy"},
		Transparent: Transparent{Mode: "redirect"},
	}
}
