package presets

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// Rules expands preset and group names into allowlist rules named "preset/entry", in the
// catalogue's order whatever the order of names (each preset once, its entries in data order):
// the order of presets: never changes a decision, not even the rule name an event shows. It
// leaves out the entries
// named in disabled ("preset/entry"). Unknown names in either list are errors that name them;
// disabling an entry of a preset that is not selected is allowed and does nothing.
func Rules(names, disabled []string) ([]allowlist.Rule, error) {
	var errs []error
	var selected []Preset
	seen := map[string]bool{}
	for _, n := range names {
		p, ok := find(n)
		if !ok {
			errs = append(errs, fmt.Errorf("presets: unknown preset %q (`mdmproxy presets` lists them)", n))
			continue
		}
		members := []string{n}
		if p.IsGroup() {
			members = p.Group
		}
		for _, m := range members {
			if !seen[m] {
				seen[m] = true
				mp, _ := find(m) // validate guarantees group members exist
				selected = append(selected, mp)
			}
		}
	}
	slices.SortFunc(selected, func(a, b Preset) int { return strings.Compare(a.Name, b.Name) })
	off := map[string]bool{}
	for _, d := range disabled {
		if !entryExists(d) {
			errs = append(errs, fmt.Errorf("presets_disabled: unknown preset entry %q (want preset/entry, e.g. apple-push/apple-network; `mdmproxy presets NAME` lists a preset's entries)", d))
			continue
		}
		off[d] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var rules []allowlist.Rule
	for _, p := range selected {
		for _, e := range p.Entries {
			name := p.Name + "/" + e.Name
			if off[name] {
				continue
			}
			r, err := e.rule(name)
			if err != nil {
				return nil, err
			}
			rules = append(rules, r)
		}
	}
	return rules, nil
}

// entryExists reports whether s names an entry as "preset/entry".
func entryExists(s string) bool {
	pn, en, ok := strings.Cut(s, "/")
	if !ok {
		return false
	}
	p, ok := find(pn)
	if !ok {
		return false
	}
	for _, e := range p.Entries {
		if e.Name == en {
			return true
		}
	}
	return false
}

// audience maps an entry's direction to the clients its rule is for: a device entry to every
// client, a server entry to roles.server, an admin entry to roles.admin.
var audience = map[string]allowlist.Audience{
	DirectionDevice: allowlist.Everyone,
	DirectionServer: allowlist.ServerRole,
	DirectionAdmin:  allowlist.AdminRole,
}

// rule converts e into the allowlist's rule type. Domains are passed as they are; Compile
// normalises them.
func (e Entry) rule(name string) (allowlist.Rule, error) {
	r := allowlist.Rule{
		Name:       name,
		Domains:    append([]string(nil), e.Domains...),
		Persistent: e.Persistent,
		For:        audience[e.Direction],
	}
	var err error
	if r.TLS, err = allowlist.ParseTLSMode(e.TLS); err != nil {
		return allowlist.Rule{}, fmt.Errorf("preset rule %s: tls: %w", name, err)
	}
	for _, s := range e.CIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return allowlist.Rule{}, fmt.Errorf("preset rule %s: %w", name, err)
		}
		r.CIDRs = append(r.CIDRs, p)
	}
	for _, s := range e.Ports {
		pr, err := allowlist.ParsePortRange(s)
		if err != nil {
			return allowlist.Rule{}, fmt.Errorf("preset rule %s: %w", name, err)
		}
		r.Ports = append(r.Ports, pr)
	}
	return r, nil
}
