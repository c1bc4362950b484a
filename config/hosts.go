package config

import "net/netip"

// hosts decodes the static name resolution overrides. A name may appear more than once, with
// one address each: the proxy tries them in order.
func (d *decoder) hosts() []HostEntry {
	val, ok := d.get("hosts")
	if !ok {
		return nil
	}
	keys, maps := objectItems("hosts", val)
	hosts := make([]HostEntry, 0, len(maps))
	for i, m := range maps {
		key := keys[i]
		var h HostEntry
		good := true
		if val := m["name"]; val == nil {
			d.failf(key+".name", "required: the host name to resolve, e.g. courier.push.apple.com")
			good = false
		} else if s, err := toString(val); err != nil {
			d.fail(key+".name", err)
			good = false
		} else if n, err := normalizeHostName(s); err != nil {
			d.fail(key+".name", err)
			good = false
		} else {
			h.Name = n
		}
		if val := m["ip"]; val == nil {
			d.failf(key+".ip", "required: the address the name resolves to, e.g. 17.57.146.20")
			good = false
		} else if s, err := toString(val); err != nil {
			d.fail(key+".ip", err)
			good = false
		} else if a, err := netip.ParseAddr(s); err != nil || a.Zone() != "" {
			d.failf(key+".ip", "%s is not an IPv4 or IPv6 address", quote(s))
			good = false
		} else {
			h.IP = a
		}
		if good {
			hosts = append(hosts, h)
		}
	}
	return hosts
}
