package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/spf13/viper"
)

// decoder reads every key of the schema from a viper holding the file and the overrides, into
// a Config holding the defaults. A key without a value keeps its default; a value that does not
// convert is reported and the default kept, so later checks do not pile up on it.
type decoder struct {
	v    *viper.Viper
	errs Errors
	// aliases renames error keys to the keys the admin wrote (the log short form is decoded as
	// log.outputs[0]).
	aliases map[string]string
}

func (d *decoder) fail(key string, err error) {
	d.errs = append(d.errs, Error{Key: key, Msg: err.Error()})
}

func (d *decoder) failf(key, format string, args ...any) {
	d.errs = append(d.errs, Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// get returns a key's value; false when no layer sets it (or the file sets it to null).
func (d *decoder) get(key string) (any, bool) {
	val := d.v.Get(key)
	return val, val != nil
}

// decode fills c from every key that is set.
func (d *decoder) decode(c *Config) {
	d.str("listen", &c.Listen)
	d.str("admin_listen", &c.AdminListen)
	d.bool("admin_pprof", &c.AdminPprof)
	d.prefixes("clients", &c.Clients)
	d.strings("presets", &c.Presets)
	d.strings("presets_disabled", &c.PresetsDisabled)
	d.prefixes("roles.server", &c.Roles.Server)
	d.prefixes("roles.admin", &c.Roles.Admin)
	c.Rules = d.rules()
	var action string
	if d.str("default_action", &action) {
		if a, err := allowlist.ParseDefaultAction(action); err != nil {
			d.fail("default_action", err)
		} else {
			c.DefaultAction = a
		}
	}
	d.str("upstream", &c.Upstream)
	d.bool("upstream_forwarded_for", &c.UpstreamForwardedFor)
	d.str("mode", &c.Mode)
	d.prefixes("deny_cidrs", &c.DenyCIDRs)
	c.Hosts = d.hosts()

	d.duration("timeouts.header", &c.Timeouts.Header)
	d.duration("timeouts.hello", &c.Timeouts.Hello)
	d.duration("timeouts.connect", &c.Timeouts.Connect)
	d.duration("timeouts.idle", &c.Timeouts.Idle)
	d.duration("timeouts.half_close", &c.Timeouts.HalfClose)
	d.duration("timeouts.shutdown_delay", &c.Timeouts.ShutdownDelay)
	d.duration("timeouts.shutdown_grace", &c.Timeouts.ShutdownGrace)

	d.int("limits.max_header_bytes", &c.Limits.MaxHeaderBytes)
	d.int("limits.max_hello_bytes", &c.Limits.MaxHelloBytes)
	d.int("limits.max_tunnels", &c.Limits.MaxTunnels)
	d.int("limits.max_tunnels_per_client", &c.Limits.MaxTunnelsPerClient)

	d.log(&c.Log)

	d.str("pac.proxy", &c.PAC.Proxy)
	d.str("pac.mdm", &c.PAC.MDM)
	d.pacDirect(&c.PAC.Direct)
	d.str("pac.rest", &c.PAC.Rest)
	d.str("pac.listen", &c.PAC.Listen)

	d.prefixes("proxy_protocol.trusted", &c.ProxyProtocol.Trusted)

	d.strings("transparent.listen", &c.Transparent.Listen)
	d.str("transparent.mode", &c.Transparent.Mode)
}

// str decodes a string key; it reports whether the key was set.
func (d *decoder) str(key string, dst *string) bool {
	val, ok := d.get(key)
	if !ok {
		return false
	}
	s, err := toString(val)
	if err != nil {
		d.fail(key, err)
		return false
	}
	*dst = s
	return true
}

func (d *decoder) duration(key string, dst *time.Duration) {
	if val, ok := d.get(key); ok {
		if t, err := toDuration(val); err != nil {
			d.fail(key, err)
		} else {
			*dst = t
		}
	}
}

func (d *decoder) bool(key string, dst *bool) {
	if val, ok := d.get(key); ok {
		if b, err := toBool(val); err != nil {
			d.fail(key, err)
		} else {
			*dst = b
		}
	}
}

func (d *decoder) int(key string, dst *int) {
	if val, ok := d.get(key); ok {
		if n, err := toInt(val); err != nil {
			d.fail(key, err)
		} else {
			*dst = n
		}
	}
}

// strings decodes a list of strings; a set but empty list gives an empty non-nil slice.
func (d *decoder) strings(key string, dst *[]string) {
	val, ok := d.get(key)
	if !ok {
		return
	}
	out := []string{}
	if d.eachString(key, val, func(_ int, s string) bool {
		out = append(out, s)
		return true
	}) {
		*dst = out
	}
}

// prefixes decodes a list of CIDR prefixes; a set but empty list gives an empty non-nil slice.
func (d *decoder) prefixes(key string, dst *[]netip.Prefix) {
	if val, ok := d.get(key); ok {
		if ps, ok := d.prefixItems(key, val); ok {
			*dst = ps
		}
	}
}

// eachString calls fn with each item of a list value that is a string (trimmed) and its
// index, and reports the items that are not. fn reports whether its item was good. It returns
// whether every item was.
func (d *decoder) eachString(key string, val any, fn func(i int, s string) bool) bool {
	items, err := toList(val)
	if err != nil {
		d.fail(key, err)
		return false
	}
	good := true
	for i, item := range items {
		s, err := toString(item)
		if err != nil {
			d.fail(indexKey(key, i), err)
			good = false
			continue
		}
		if !fn(i, strings.TrimSpace(s)) {
			good = false
		}
	}
	return good
}

func (d *decoder) prefixItems(key string, val any) ([]netip.Prefix, bool) {
	out := []netip.Prefix{}
	good := d.eachString(key, val, func(i int, s string) bool {
		p, err := toPrefix(s)
		if err != nil {
			d.fail(indexKey(key, i), err)
			return false
		}
		out = append(out, p)
		return true
	})
	return out, good
}

// pacDirect decodes pac.direct: domain patterns and CIDRs, normalised.
func (d *decoder) pacDirect(dst *[]string) {
	const key = "pac.direct"
	val, ok := d.get(key)
	if !ok {
		return
	}
	out := []string{}
	if d.eachString(key, val, func(i int, s string) bool {
		if strings.Contains(s, "/") {
			p, err := toPrefix(s)
			if err != nil {
				d.fail(indexKey(key, i), err)
				return false
			}
			out = append(out, p.String())
			return true
		}
		n, err := normalizeDomainPattern(s)
		if err != nil {
			d.fail(indexKey(key, i), err)
			return false
		}
		out = append(out, n)
		return true
	}) {
		*dst = out
	}
}

// objectItems returns the maps of a list-of-objects value with their keys ("rules[2]"). Items
// that are not maps are left out: checkStructure reports them.
func objectItems(key string, val any) (keys []string, maps []map[string]any) {
	items, ok := val.([]any)
	if !ok {
		return nil, nil
	}
	for i, item := range items {
		if m, ok := asMap(item); ok {
			keys = append(keys, indexKey(key, i))
			maps = append(maps, m)
		}
	}
	return keys, maps
}
