package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// Size bounds of limits.max_header_bytes and limits.max_hello_bytes.
const (
	minBufferBytes = 1024
	maxBufferBytes = 1 << 20
)

// validate checks the values of a decoded configuration and the rules between keys. Rules,
// hosts, CIDRs and domains were checked as they were decoded.
func validate(c *Config) Errors {
	var errs Errors
	add := func(key string, err error) {
		if err != nil {
			errs = append(errs, Error{Key: key, Msg: err.Error()})
		}
	}

	add("listen", checkListenAddr(c.Listen))
	add("admin_listen", checkListenAddr(c.AdminListen))
	if sameListener(c.Listen, c.AdminListen) {
		add("admin_listen", fmt.Errorf("%s is the proxy's address too (listen); the admin endpoints need their own", quote(c.AdminListen)))
	}

	errs = append(errs, checkPresets(c)...)
	errs = append(errs, checkScopes(c)...)
	add("mode", oneOf(c.Mode, ModeEnforce, ModeReport))
	if c.Upstream != "" {
		add("upstream", checkUpstream(c.Upstream))
	} else if c.DefaultAction == allowlist.Upstream {
		add("default_action", errors.New("upstream needs the upstream key set, e.g. upstream: \"http://filter.school.lan:8080\""))
	}

	for _, t := range []struct {
		key     string
		d       time.Duration
		zeroOK  bool
		example string
	}{
		{"timeouts.header", c.Timeouts.Header, false, "10s"},
		{"timeouts.hello", c.Timeouts.Hello, false, "5s"},
		{"timeouts.connect", c.Timeouts.Connect, false, "10s"},
		{"timeouts.idle", c.Timeouts.Idle, false, "10m"},
		{"timeouts.half_close", c.Timeouts.HalfClose, false, "60s"},
		{"timeouts.shutdown_delay", c.Timeouts.ShutdownDelay, true, "10s"},
		{"timeouts.shutdown_grace", c.Timeouts.ShutdownGrace, true, "30s"},
	} {
		switch {
		case t.d < 0:
			add(t.key, fmt.Errorf("%v is negative", t.d))
		case t.d == 0 && !t.zeroOK:
			add(t.key, fmt.Errorf("must be more than 0 (e.g. %s)", t.example))
		}
	}

	for _, l := range []struct {
		key string
		n   int
	}{
		{"limits.max_header_bytes", c.Limits.MaxHeaderBytes},
		{"limits.max_hello_bytes", c.Limits.MaxHelloBytes},
	} {
		if l.n < minBufferBytes || l.n > maxBufferBytes {
			add(l.key, fmt.Errorf("%d is outside %d-%d (1 KiB to 1 MiB)", l.n, minBufferBytes, maxBufferBytes))
		}
	}
	for _, l := range []struct {
		key string
		n   int
	}{
		{"limits.max_tunnels", c.Limits.MaxTunnels},
		{"limits.max_tunnels_per_client", c.Limits.MaxTunnelsPerClient},
	} {
		if l.n < 0 {
			add(l.key, fmt.Errorf("%d is negative (0 means unlimited)", l.n))
		}
	}

	errs = append(errs, checkLog(c.Log)...)

	if c.PAC.Proxy != "" {
		add("pac.proxy", checkRemoteAddr(c.PAC.Proxy))
	}
	add("pac.mdm", oneOf(c.PAC.MDM, "proxy", "direct"))
	if c.PAC.Rest != "" {
		add("pac.rest", oneOf(c.PAC.Rest, "proxy", "upstream", "direct"))
	}
	if c.PAC.Rest == "upstream" && c.Upstream == "" {
		add("pac.rest", errors.New("upstream needs the upstream key set, e.g. upstream: \"http://filter.school.lan:8080\""))
	}
	if c.PAC.Listen != "" {
		add("pac.listen", checkListenAddr(c.PAC.Listen))
		for _, other := range []struct{ key, addr string }{{"listen", c.Listen}, {"admin_listen", c.AdminListen}} {
			if sameListener(c.PAC.Listen, other.addr) {
				add("pac.listen", fmt.Errorf("%s is already %s; the PAC listener needs its own address (the proxy listener serves the PAC file too)", quote(c.PAC.Listen), other.key))
			}
		}
	}

	errs = append(errs, checkTransparent(c)...)
	return errs
}

// checkScopes refuses client prefixes in roles and in rules' clients that no prefix of clients
// overlaps: those clients cannot use the proxy at all, so the entry is a mistake.
func checkScopes(c *Config) Errors {
	var errs Errors
	check := func(key string, ps []netip.Prefix) {
		for i, p := range ps {
			if !slices.ContainsFunc(c.Clients, p.Overlaps) {
				errs = append(errs, Error{Key: indexKey(key, i), Msg: p.String() + " is outside clients: nobody there may use the proxy"})
			}
		}
	}
	check("roles.server", c.Roles.Server)
	check("roles.admin", c.Roles.Admin)
	for i, r := range c.Rules {
		check(indexKey("rules", i)+".clients", r.Clients)
	}
	return errs
}

// oneOf checks that s is one of the allowed values.
func oneOf(s string, allowed ...string) error {
	for _, a := range allowed {
		if s == a {
			return nil
		}
	}
	return fmt.Errorf("%s is not one of %s", quote(s), strings.Join(allowed, ", "))
}

// checkListenAddr checks an address to listen on: [HOST]:PORT, port 0 picking a free one.
func checkListenAddr(s string) error {
	host, port, err := splitHostPort(s)
	if err != nil {
		return err
	}
	if port < 0 {
		return fmt.Errorf("%s: the port must be 0-65535", quote(s))
	}
	return checkHost(s, host, true)
}

// checkRemoteAddr checks an address to connect to: HOST:PORT, port 1-65535.
func checkRemoteAddr(s string) error {
	host, port, err := splitHostPort(s)
	if err != nil {
		return err
	}
	if port < 1 {
		return fmt.Errorf("%s: the port must be 1-65535", quote(s))
	}
	return checkHost(s, host, false)
}

// splitHostPort splits HOST:PORT; port is -1 when it is not a number 0-65535.
func splitHostPort(s string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%s is not HOST:PORT (e.g. 0.0.0.0:3128 or [::]:3128)", quote(s))
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 || strings.TrimLeft(p, "0123456789") != "" {
		return host, -1, nil
	}
	return host, n, nil
}

// checkHost checks the host part of an address: an IP address or a host name.
func checkHost(s, host string, emptyOK bool) error {
	if host == "" {
		if emptyOK {
			return nil
		}
		return fmt.Errorf("%s has no host", quote(s))
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if _, err := normalizeHostName(host); err != nil {
		return fmt.Errorf("%s: %v", quote(s), err)
	}
	return nil
}

// checkUpstream checks the upstream proxy's URL: http://[user:password@]HOST:PORT. Its
// messages show the URL with the password replaced, never the password itself.
func checkUpstream(s string) error {
	const form = "must be http://HOST:PORT, e.g. http://filter.school.lan:8080"
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL; " + form + " (the value is not repeated: it may hold a password)")
	}
	shown := quote(u.Redacted())
	if u.Scheme != "http" || u.Opaque != "" {
		return fmt.Errorf("%s: %s", shown, form)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s: a proxy URL has no path, query or fragment; %s", shown, form)
	}
	if u.Port() == "" {
		return fmt.Errorf("%s has no port; %s", shown, form)
	}
	return checkRemoteAddr(u.Host)
}

// sameListener reports whether two listen addresses would collide: the same non-zero port on
// the same host, or on any host when one of them listens on all addresses.
func sameListener(a, b string) bool {
	ha, pa, errA := splitHostPort(a)
	hb, pb, errB := splitHostPort(b)
	if errA != nil || errB != nil || pa <= 0 || pa != pb {
		return false
	}
	return ha == hb || isAnyHost(ha) || isAnyHost(hb)
}

func isAnyHost(h string) bool {
	if h == "" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsUnspecified()
}
