package config

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

func TestLoadEmptyFileGivesDefaults(t *testing.T) {
	c := mustLoad(t, "# nothing set\n")
	want := schemaDefaults()
	want.Log.Outputs = []LogOutput{{Format: "json", Output: "stdout", Level: "info"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if c.Listen != "0.0.0.0:3128" || c.AdminListen != "127.0.0.1:9090" || c.Mode != "enforce" ||
		c.DefaultAction != allowlist.Deny || c.Transparent.Mode != "redirect" || c.PAC.MDM != "proxy" || !c.UpstreamForwardedFor {
		t.Errorf("schema defaults changed: %+v", c)
	}
	wantT := Timeouts{10 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Minute, 60 * time.Second, 0, 30 * time.Second}
	if c.Timeouts != wantT {
		t.Errorf("timeouts %+v, want %+v", c.Timeouts, wantT)
	}
	if c.Limits != (Limits{MaxHeaderBytes: 65536, MaxHelloBytes: 65536}) {
		t.Errorf("limits %+v", c.Limits)
	}
	if len(c.Clients) != 6 || !slices.Equal(c.DenyCIDRs, allowlist.DefaultDenyCIDRs) {
		t.Errorf("clients %v deny %v", c.Clients, c.DenyCIDRs)
	}
}

func TestLoadFull(t *testing.T) {
	const text = `
listen: "127.0.0.1:0"
admin_listen: "[::1]:0"
clients: [10.0.0.0/8, "2001:db8::/32"]
presets: []
presets_disabled: []
rules:
  - name: jamf-cloud
    domains: ["*.JamfCloud.com.", "jamfcloud.com", "bücher.example", "r3---sn-abc.googlevideo.com", "_tcp.example.org"]
    cidrs: ["2620:149:a44::/48"]
    ports: [443, 8443, "5228-5230", "80"]
    persistent: true
    tls: optional
  - name: onprem/mdm_1.0
    domains: [mdm.school.lan]
    cidrs: [10.1.2.3/32]
    ports: [443]
    persistent: "false"
default_action: deny
upstream: ""
upstream_forwarded_for: false
mode: enforce
deny_cidrs: [169.254.0.0/16, "fe80::/10"]
hosts:
  - {name: Courier.Push.Apple.com., ip: 17.57.146.20}
  - {name: courier.push.apple.com, ip: "2620:149:a44::1"}
timeouts: {header: 3s, hello: 2s, connect: 4s, idle: 24h, half_close: 1m30s, shutdown_grace: 0}
limits: {max_header_bytes: 1024, max_hello_bytes: 1048576, max_tunnels: 0, max_tunnels_per_client: 0}
log:
  level: warn
  aggregate: 10s
  outputs:
    - {format: json, output: stdout}
    - {format: json, output: "file:/var/log/mdmproxy/events.log", level: debug, rotate: {max_size_mb: 100, max_backups: 10, max_age_days: 7, compress: true}}
    - {output: stderr}
    - format: cef
      output: "syslog+tls://siem.school.lan:6514"
      tls: {ca: /etc/mdmproxy/siem-ca.pem, cert: /etc/mdmproxy/c.pem, key: /etc/mdmproxy/k.pem, server_name: siem}
pac: {mdm: proxy, direct: [], proxy: ""}
proxy_protocol: {trusted: []}
transparent: {listen: [], mode: tproxy}
`
	c := mustLoad(t, text)
	want := &Config{
		Listen:          "127.0.0.1:0",
		AdminListen:     "[::1]:0",
		Clients:         []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
		Presets:         []string{},
		PresetsDisabled: []string{},
		Rules: []allowlist.Rule{
			{
				Name:       "jamf-cloud",
				Domains:    []string{"*.jamfcloud.com", "jamfcloud.com", "xn--bcher-kva.example", "r3---sn-abc.googlevideo.com", "_tcp.example.org"},
				CIDRs:      []netip.Prefix{netip.MustParsePrefix("2620:149:a44::/48")},
				Ports:      allowlist.Ports{pr(443, 443), pr(8443, 8443), pr(5228, 5230), pr(80, 80)},
				Persistent: true,
				TLS:        allowlist.TLSOptional,
			},
			{
				Name:    "onprem/mdm_1.0",
				Domains: []string{"mdm.school.lan"},
				CIDRs:   []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32")},
				Ports:   allowlist.Ports{pr(443, 443)},
			},
		},
		DefaultAction:        allowlist.Deny,
		UpstreamForwardedFor: false,
		Mode:                 "enforce",
		DenyCIDRs:            []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10")},
		Hosts: []HostEntry{
			{Name: "courier.push.apple.com", IP: netip.MustParseAddr("17.57.146.20")},
			{Name: "courier.push.apple.com", IP: netip.MustParseAddr("2620:149:a44::1")},
		},
		Timeouts: Timeouts{Header: 3 * time.Second, Hello: 2 * time.Second, Connect: 4 * time.Second, Idle: 24 * time.Hour, HalfClose: 90 * time.Second},
		Limits:   Limits{MaxHeaderBytes: 1024, MaxHelloBytes: 1 << 20},
		Log: Log{Level: "warn", Aggregate: 10 * time.Second, Outputs: []LogOutput{
			{Format: "json", Output: "stdout", Level: "warn"},
			{Format: "json", Output: "file:/var/log/mdmproxy/events.log", Level: "debug",
				Rotate: LogRotate{Set: true, MaxSizeMB: 100, MaxBackups: 10, MaxAgeDays: 7, Compress: true}},
			{Format: "json", Output: "stderr", Level: "warn"},
			{Format: "cef", Output: "syslog+tls://siem.school.lan:6514", Level: "warn",
				TLS: LogTLS{CA: "/etc/mdmproxy/siem-ca.pem", Cert: "/etc/mdmproxy/c.pem", Key: "/etc/mdmproxy/k.pem", ServerName: "siem"}},
		}},
		PAC:           PAC{MDM: "proxy", Direct: []string{}},
		ProxyProtocol: ProxyProtocol{Trusted: []netip.Prefix{}},
		Transparent:   Transparent{Listen: []string{}, Mode: "tproxy"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestLoadPAC(t *testing.T) {
	c := mustLoad(t, "pac:\n  proxy: \"mdmproxy.school.lan:3128\"\n  mdm: direct\n  rest: direct\n  direct: [\"*.School.LAN.\", 10.0.0.0/8]\n  listen: \"127.0.0.1:0\"\n")
	want := PAC{Proxy: "mdmproxy.school.lan:3128", MDM: "direct", Rest: "direct", Direct: []string{"*.school.lan", "10.0.0.0/8"}, Listen: "127.0.0.1:0"}
	if !reflect.DeepEqual(c.PAC, want) || c.PACRest() != "direct" {
		t.Errorf("got %+v, want %+v", c.PAC, want)
	}
	for _, tc := range []struct{ yaml, rest string }{
		{"", "proxy"},
		{"pac: {rest: direct}\n", "direct"},
	} {
		if got := mustLoad(t, tc.yaml).PACRest(); got != tc.rest {
			t.Errorf("%q: PACRest() = %q, want %q", tc.yaml, got, tc.rest)
		}
	}
	if got := (&Config{DefaultAction: allowlist.Upstream}).PACRest(); got != "upstream" {
		t.Errorf("default_action upstream: PACRest() = %q, want upstream", got)
	}
}

func TestLoadSmallForms(t *testing.T) {
	t.Run("null values keep defaults", func(t *testing.T) {
		c := mustLoad(t, "listen:\nrules:\ndeny_cidrs:\ntimeouts:\n  idle:\n")
		if c.Listen != "0.0.0.0:3128" || c.Rules != nil || !slices.Equal(c.DenyCIDRs, allowlist.DefaultDenyCIDRs) || c.Timeouts.Idle != 10*time.Minute {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("keys are case-insensitive", func(t *testing.T) {
		c := mustLoad(t, "Listen: 127.0.0.1:3128\nTimeouts: {Idle: 1m}\nRules:\n  - {Name: a, Domains: [a.com], Ports: [443]}\n")
		if c.Listen != "127.0.0.1:3128" || c.Timeouts.Idle != time.Minute || len(c.Rules) != 1 {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("a single port and comma-separated lists", func(t *testing.T) {
		c := mustLoad(t, "clients: \"10.0.0.0/8, 192.168.0.0/16\"\nrules:\n  - {name: a, domains: \"a.com,b.com\", ports: 443}\n")
		if len(c.Clients) != 2 || !slices.Equal(c.Rules[0].Domains, []string{"a.com", "b.com"}) || !slices.Equal(c.Rules[0].Ports, allowlist.Ports{pr(443, 443)}) {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("log short form", func(t *testing.T) {
		c := mustLoad(t, "log: {format: json, output: stderr, level: debug}\n")
		want := Log{Level: "debug", Outputs: []LogOutput{{Format: "json", Output: "stderr", Level: "debug"}}}
		if !reflect.DeepEqual(c.Log, want) {
			t.Errorf("got %+v, want %+v", c.Log, want)
		}
	})
	t.Run("listen on all addresses", func(t *testing.T) {
		c := mustLoad(t, "listen: \":3128\"\nadmin_listen: \"localhost:9090\"\n")
		if c.Listen != ":3128" || c.AdminListen != "localhost:9090" {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("listen and admin both on port 0", func(t *testing.T) {
		mustLoad(t, "listen: \"127.0.0.1:0\"\nadmin_listen: \"127.0.0.1:0\"\n")
	})
	t.Run("shutdown_grace 0s", func(t *testing.T) {
		if c := mustLoad(t, "timeouts: {shutdown_grace: 0s}\n"); c.Timeouts.ShutdownGrace != 0 {
			t.Errorf("got %v", c.Timeouts.ShutdownGrace)
		}
	})
	t.Run("proxy_protocol.trusted", func(t *testing.T) {
		c := mustLoad(t, "proxy_protocol: {trusted: [10.0.0.5/32, \"fd00::5/128\"]}\n")
		if len(c.ProxyProtocol.Trusted) != 2 || c.ProxyProtocol.Trusted[0] != netip.MustParsePrefix("10.0.0.5/32") {
			t.Errorf("trusted %v", c.ProxyProtocol.Trusted)
		}
	})
	t.Run("shutdown_delay and admin_pprof", func(t *testing.T) {
		c := mustLoad(t, "admin_pprof: true\ntimeouts: {shutdown_delay: 7s}\n")
		if !c.AdminPprof || c.Timeouts.ShutdownDelay != 7*time.Second {
			t.Errorf("admin_pprof %v, shutdown_delay %v; want true, 7s", c.AdminPprof, c.Timeouts.ShutdownDelay)
		}
		if d := mustLoad(t, "listen: \"127.0.0.1:0\"\n"); d.AdminPprof || d.Timeouts.ShutdownDelay != 0 {
			t.Errorf("defaults: admin_pprof %v, shutdown_delay %v; want false, 0s", d.AdminPprof, d.Timeouts.ShutdownDelay)
		}
	})
	t.Run("anchors and aliases", func(t *testing.T) {
		c := mustLoad(t, "rules:\n  - {name: a, domains: [a.com], ports: &ports [443, 5223]}\n  - {name: b, domains: [b.com], ports: *ports}\n")
		if len(c.Rules) != 2 || c.Rules[1].Ports.String() != "443,5223" {
			t.Errorf("got %+v", c.Rules)
		}
	})
}

func TestPolicySpec(t *testing.T) {
	t.Run("deny_cidrs unset", func(t *testing.T) {
		spec := mustLoad(t, "mode: enforce\n").PolicySpec()
		if !slices.Equal(spec.DenyCIDRs, allowlist.DefaultDenyCIDRs) {
			t.Errorf("DenyCIDRs %v, want the default", spec.DenyCIDRs)
		}
		if spec.Report || spec.DefaultAction != allowlist.Deny || len(spec.Clients) != 6 {
			t.Errorf("spec %+v", spec)
		}
	})
	t.Run("deny_cidrs set", func(t *testing.T) {
		spec := mustLoad(t, "deny_cidrs: [169.254.169.254/32]\n").PolicySpec()
		if want := []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}; !slices.Equal(spec.DenyCIDRs, want) {
			t.Errorf("DenyCIDRs %v, want %v", spec.DenyCIDRs, want)
		}
	})
	t.Run("deny_cidrs empty", func(t *testing.T) {
		spec := mustLoad(t, "deny_cidrs: []\n").PolicySpec()
		if spec.DenyCIDRs == nil || len(spec.DenyCIDRs) != 0 {
			t.Errorf("DenyCIDRs %#v, want empty and non-nil", spec.DenyCIDRs)
		}
	})
	t.Run("a Config not from Load", func(t *testing.T) {
		spec := (&Config{}).PolicySpec()
		if !slices.Equal(spec.DenyCIDRs, allowlist.DefaultDenyCIDRs) {
			t.Errorf("DenyCIDRs %v, want the default", spec.DenyCIDRs)
		}
	})
	t.Run("copies", func(t *testing.T) {
		c := mustLoad(t, "rules:\n  - {name: a, domains: [a.com], cidrs: [17.0.0.0/8], ports: [443]}\n")
		spec := c.PolicySpec()
		spec.Rules[0].Domains[0] = "changed"
		spec.Rules[0].Ports[0].Lo = 1
		spec.DenyCIDRs[0] = netip.Prefix{}
		spec.Clients[0] = netip.Prefix{}
		if c.Rules[0].Domains[0] != "a.com" || c.Rules[0].Ports[0].Lo != 443 || c.Clients[0] == (netip.Prefix{}) ||
			!slices.Equal(c.DenyCIDRs, allowlist.DefaultDenyCIDRs) || allowlist.DefaultDenyCIDRs[0] == (netip.Prefix{}) {
			t.Error("PolicySpec shares memory with the Config")
		}
	})
}

func pr(lo, hi uint16) allowlist.PortRange { return allowlist.PortRange{Lo: lo, Hi: hi} }
