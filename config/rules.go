package config

import (
	"fmt"
	"regexp"
	"runtime"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// ruleNameRE is what a rule name may contain: it appears in events and metrics labels.
var ruleNameRE = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)

// rules decodes and checks the rules list. Rules with problems are reported and left out.
func (d *decoder) rules() []allowlist.Rule {
	val, ok := d.get("rules")
	if !ok {
		return nil
	}
	keys, maps := objectItems("rules", val)
	rules := make([]allowlist.Rule, 0, len(maps))
	firstKey := map[string]string{} // rule name -> key of the rule that has it first
	for i, m := range maps {
		if i%yieldRules == yieldRules-1 {
			runtime.Gosched() // see yieldingReader: a reload runs beside open tunnels
		}
		key := keys[i]
		r, ok := d.rule(key, m)
		if r.Name != "" {
			if other, dup := firstKey[r.Name]; dup {
				d.failf(key+".name", "%s is already the name of %s; rule names must be unique", quote(r.Name), other)
				ok = false
			} else {
				firstKey[r.Name] = key
			}
		}
		if ok {
			rules = append(rules, r)
		}
	}
	return rules
}

// rule decodes one rule; ok is false when it has a problem (already reported).
func (d *decoder) rule(key string, m map[string]any) (r allowlist.Rule, ok bool) {
	n := len(d.errs)

	if val := m["name"]; val == nil {
		d.failf(key+".name", "required: a name for events and metrics, e.g. jamf-cloud")
	} else if s, err := toString(val); err != nil {
		d.fail(key+".name", err)
	} else if !ruleNameRE.MatchString(s) {
		d.failf(key+".name", "%s may contain only letters, digits and . _ / -", quote(s))
	} else {
		r.Name = s
	}

	targets := 0
	if val := m["domains"]; val != nil {
		items, _ := toList(val)
		targets += len(items)
		d.eachString(key+".domains", val, func(i int, s string) bool {
			dom, err := normalizeDomainPattern(s)
			if err != nil {
				d.fail(indexKey(key+".domains", i), err)
				return false
			}
			r.Domains = append(r.Domains, dom)
			return true
		})
	}
	if val := m["cidrs"]; val != nil {
		items, _ := toList(val)
		targets += len(items)
		r.CIDRs, _ = d.prefixItems(key+".cidrs", val)
	}
	if targets == 0 {
		d.failf(key, "needs domains or cidrs (or both): a rule with neither allows nothing")
	}

	// clients: only these client prefixes; left out or empty, every client (SPEC).
	if val := m["clients"]; val != nil {
		if ps, good := d.prefixItems(key+".clients", val); good && len(ps) > 0 {
			r.For, r.Clients = allowlist.ListedClients, ps
		}
	}

	if val := m["ports"]; val == nil {
		d.failf(key+".ports", "required: the ports this rule allows, e.g. [443] or [443, \"5228-5230\"]")
	} else if items, err := toList(val); err != nil {
		d.fail(key+".ports", err)
	} else if len(items) == 0 {
		d.failf(key+".ports", "must list at least one port")
	} else {
		for i, item := range items {
			pr, err := toPortRange(item)
			if err != nil {
				d.fail(indexKey(key+".ports", i), err)
				continue
			}
			r.Ports = append(r.Ports, pr)
		}
	}

	if val := m["persistent"]; val != nil {
		b, err := toBool(val)
		if err != nil {
			d.fail(key+".persistent", err)
		}
		r.Persistent = b
	}

	if val := m["tls"]; val != nil {
		s, err := toString(val)
		if err == nil {
			r.TLS, err = allowlist.ParseTLSMode(s)
		}
		if err != nil {
			d.fail(key+".tls", fmt.Errorf("%v (required: only TLS is spliced; optional: any bytes are)", err))
		}
	}

	return r, len(d.errs) == n
}
