package config

import (
	"net/netip"
	"slices"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// Config is a loaded and checked configuration: the admin's inputs, nothing computed at run
// time. Load returns a fresh value each time; treat it as read-only once published.
type Config struct {
	// Listen is the explicit proxy's address (HTTP, CONNECT and the PAC file); port 0 picks one.
	Listen string
	// AdminListen serves /metrics, /healthz and /readyz; never the proxy's address.
	AdminListen string
	// AdminPprof (key admin_pprof) serves /debug/pprof on AdminListen; off by default, as
	// profiles and traces show memory contents and what the proxy is doing.
	AdminPprof bool
	// Clients are the networks that may use the proxy; an empty list admits nobody.
	Clients []netip.Prefix
	// Presets are built-in MDM rule sets (package presets), by preset or group name.
	Presets []string
	// PresetsDisabled (key presets_disabled) removes single preset entries, as "preset/entry".
	PresetsDisabled []string
	// Roles (key roles) are the clients the server- and admin-direction preset entries are
	// for; empty lists: nobody.
	Roles allowlist.Roles
	// Rules are the admin's allow rules, domains normalised (lower case, no trailing dot, punycode);
	// a rule with clients is For allowlist.ListedClients.
	Rules []allowlist.Rule
	// DefaultAction is what happens to everything no rule allows.
	DefaultAction allowlist.Action
	// Upstream is the proxy used with default_action upstream, e.g. "http://filter.school.lan:8080".
	Upstream string
	// UpstreamForwardedFor (key upstream_forwarded_for) sends the client's address to the
	// upstream in X-Forwarded-For, so the school's filter still sees which device it serves.
	UpstreamForwardedFor bool
	// Mode is "enforce" or "report".
	Mode string
	// DenyCIDRs are destinations never dialled unless a rule names them. Load sets it to a copy
	// of allowlist.DefaultDenyCIDRs when the key is not set, and to an empty non-nil slice for
	// an explicit empty list (deny_cidrs: []).
	DenyCIDRs []netip.Prefix
	// Hosts are static name resolution overrides, tried before DNS.
	Hosts []HostEntry
	// Timeouts bound each phase of a connection.
	Timeouts Timeouts
	// Limits bound sizes and counts; 0 means unlimited where a limit allows it.
	Limits Limits
	// Log configures the event stream and the operational log's level.
	Log Log
	// PAC configures the generated PAC/WPAD file.
	PAC PAC
	// ProxyProtocol lists the load balancers trusted to send PROXY protocol headers.
	ProxyProtocol ProxyProtocol
	// Transparent configures intercepted (non-proxy) connections.
	Transparent Transparent
}

// HostEntry is one static name-to-address override (key hosts).
type HostEntry struct {
	Name string // normalised: lower case, no trailing dot, punycode
	IP   netip.Addr
}

// Timeouts (key timeouts). All are positive; ShutdownGrace may be 0.
type Timeouts struct {
	Header        time.Duration // a client's request head must arrive within this
	Hello         time.Duration // the TLS ClientHello must arrive within this after the 200
	Connect       time.Duration // dialling the destination
	Idle          time.Duration // a tunnel without traffic is closed (not for persistent rules)
	HalfClose     time.Duration // after one side closed, the other gets this long to finish
	ShutdownDelay time.Duration // on SIGTERM/SIGINT, /readyz says 503 and listeners keep accepting this long
	ShutdownGrace time.Duration // open tunnels drain this long on SIGTERM/SIGINT
}

// Limits (key limits).
type Limits struct {
	MaxHeaderBytes      int // request head size, 1 KiB to 1 MiB
	MaxHelloBytes       int // ClientHello size, 1 KiB to 1 MiB
	MaxTunnels          int // open tunnels in all, 0 = unlimited
	MaxTunnelsPerClient int // open tunnels per client address, 0 = unlimited
}

// Log (key log). The short form {format, output, level} in the file is loaded as one output.
type Log struct {
	// Level is the operational log's level and the default of each output's: debug, info, warn or error.
	Level string
	// Outputs are the event stream's destinations; at least one.
	Outputs []LogOutput
	// Aggregate is the window in which identical denials (client, target, reason) become one
	// event with a count; 0 = off.
	Aggregate time.Duration
}

// LogOutput is one destination of the event stream.
type LogOutput struct {
	Format string    // json, cef, leef or squid
	Output string    // stdout, stderr, file:PATH, syslog+udp|tcp|tls://HOST:PORT
	Level  string    // minimum level; Load fills in Log.Level when the file leaves it out
	Rotate LogRotate // file: outputs only (key rotate)
	TLS    LogTLS    // syslog+tls outputs only (key tls)
}

// LogRotate is an output's rotate section: size-based rotation of a file output.
type LogRotate struct {
	Set        bool // the rotate key is present; rotation is on
	MaxSizeMB  int  // rotate at this size, at least 1
	MaxBackups int  // rotated files kept; 0 = all
	MaxAgeDays int  // rotated files removed after this many days; 0 = never
	Compress   bool // gzip rotated files
}

// LogTLS is an output's tls section: how a syslog+tls output checks its collector.
type LogTLS struct {
	CA         string // PEM file of the collector's CA; empty = the system's roots
	Cert       string // PEM client certificate, with Key, or neither
	Key        string
	ServerName string // the name the collector's certificate must carry; empty = the URL's host
}

// PAC (key pac).
type PAC struct {
	Proxy  string   // how clients reach this proxy, HOST:PORT; empty when not set
	MDM    string   // where MDM destinations go: proxy or direct
	Direct []string // domain patterns and CIDRs always sent DIRECT (normalised)
	// Rest is where everything else goes: proxy, upstream or direct; "" derives it from
	// DefaultAction (upstream: upstream, otherwise proxy).
	Rest string
	// Listen is an optional extra listener serving only the PAC file (e.g. ":80" for WPAD by
	// DNS); "" for none.
	Listen string
}

// PACRest is where the PAC file sends what is not an MDM destination: pac.rest, or when it is
// not set, upstream under default_action upstream and this proxy otherwise.
func (c *Config) PACRest() string {
	switch {
	case c.PAC.Rest != "":
		return c.PAC.Rest
	case c.DefaultAction == allowlist.Upstream:
		return "upstream"
	}
	return "proxy"
}

// ProxyProtocol (key proxy_protocol).
type ProxyProtocol struct {
	Trusted []netip.Prefix
}

// Transparent (key transparent).
type Transparent struct {
	Listen []string // HOST:PORT addresses receiving intercepted connections
	Mode   string   // redirect or tproxy
}

// PolicySpec returns what allowlist.Compile needs: the admin's rules first, then the selected
// presets' entries (named "preset/entry"), so that for the same name and port the admin's own
// rule governs. The slices are copies. A nil DenyCIDRs (a Config not made by Load) means
// allowlist.DefaultDenyCIDRs; an empty non-nil one means none.
func (c *Config) PolicySpec() allowlist.Spec {
	deny := c.DenyCIDRs
	if deny == nil {
		deny = allowlist.DefaultDenyCIDRs
	}
	rules := make([]allowlist.Rule, len(c.Rules))
	for i, r := range c.Rules {
		r.Domains = slices.Clone(r.Domains)
		r.CIDRs = slices.Clone(r.CIDRs)
		r.Ports = slices.Clone(r.Ports)
		r.Clients = slices.Clone(r.Clients)
		rules[i] = r
	}
	rules = append(rules, c.presetRules()...)
	return allowlist.Spec{
		Rules:         rules,
		DefaultAction: c.DefaultAction,
		Report:        c.Mode == ModeReport,
		Clients:       slices.Clone(c.Clients),
		Roles:         allowlist.Roles{Server: slices.Clone(c.Roles.Server), Admin: slices.Clone(c.Roles.Admin)},
		DenyCIDRs:     slices.Clone(deny),
	}
}
