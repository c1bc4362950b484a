package proxy

import (
	"net/netip"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// Settings is one immutable snapshot of everything a connection needs. A reload builds a new
// one and passes it to Server.Update; connections keep the snapshot they started with.
type Settings struct {
	Policy   *allowlist.Policy
	Hosts    map[string][]netip.Addr // static name resolution, by normalised name; checked before DNS
	Timeouts Timeouts
	Limits   Limits
	// Upstream is the proxy default_action upstream hands flows to; nil without one.
	Upstream *Upstream
	// OwnNames are HOST:PORT names devices reach this proxy at (pac.proxy), canonical as
	// allowlist.Target.HostPort writes them: a plain request for one is the proxy's own,
	// answered by NonProxy and never forwarded.
	OwnNames []string
	// ProxyProtocolTrusted are the load balancers that must send a PROXY protocol header
	// (proxy_protocol.trusted); a header from any other source is refused.
	ProxyProtocolTrusted []netip.Prefix

	policyGen uint64 // set by Server.Update: which policy this is, for reload revocation
}

// Timeouts bound each phase of a connection. Zero fields take the value of DefaultTimeouts.
type Timeouts struct {
	Header    time.Duration // reading the request head
	Hello     time.Duration // reading the ClientHello after the 200
	Connect   time.Duration // resolving and dialling the destination
	Idle      time.Duration // silence in both directions before a non-persistent tunnel is closed
	HalfClose time.Duration // after one side finished sending, how long the other may go on
}

// DefaultTimeouts are the spec's defaults.
var DefaultTimeouts = Timeouts{Header: 10 * time.Second, Hello: 5 * time.Second, Connect: 10 * time.Second, Idle: 10 * time.Minute, HalfClose: 60 * time.Second}

// Limits bound what a client may make the proxy hold. Zero fields take DefaultLimits.
type Limits struct {
	MaxHeaderBytes int // request line and headers
	MaxHelloBytes  int // the TLS records carrying the ClientHello
	// MaxTunnels bounds tunnels open and set-ups in progress (503 beyond); 0: unlimited.
	MaxTunnels int
	// MaxTunnelsPerClient bounds them per client address (429 beyond); 0: unlimited.
	MaxTunnelsPerClient int
}

// DefaultLimits are the spec's defaults.
var DefaultLimits = Limits{MaxHeaderBytes: 64 << 10, MaxHelloBytes: 64 << 10}

func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	return Timeouts{
		Header: pick(t.Header, d.Header), Hello: pick(t.Hello, d.Hello), Connect: pick(t.Connect, d.Connect),
		Idle: pick(t.Idle, d.Idle), HalfClose: pick(t.HalfClose, d.HalfClose),
	}
}

func (l Limits) withDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultLimits.MaxHeaderBytes
	}
	if l.MaxHelloBytes <= 0 {
		l.MaxHelloBytes = DefaultLimits.MaxHelloBytes
	}
	return l
}
