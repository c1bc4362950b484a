package doctor

import (
	"fmt"
	"strings"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/presets"
)

// maxRangePorts is the widest port range probed port by port; a wider one is probed at its two
// ends only, so that a rule "1024-65535" cannot make the doctor open 64,000 connections.
const maxRangePorts = 16

// Target is one name on one port of one rule.
type Target struct {
	Rule  string
	Name  string
	Port  uint16
	TLS   bool   // tls: required: the probe makes a TLS handshake
	Probe string // for a preset probe name standing in for a wildcard: the vendor's source
}

// Note says what of a rule the doctor cannot check and why.
type Note struct {
	Rule string
	Text string
}

// Plan is what a doctor run checks: the rules in policy order, their targets, and notes on
// what cannot be checked.
type Plan struct {
	Rules   []string
	Targets []Target
	Notes   []Note
}

// NewPlan lists what to probe for rules: every exact name, and for wildcards the probe hosts
// the rule's preset entry documents under them, each on each of the rule's ports. What cannot
// be probed (wildcards without a probe name, address-only rules) becomes a note.
func NewPlan(rules []allowlist.Rule) Plan {
	var targets []Target
	var notes []Note
	var names []string
	for _, r := range rules {
		names = append(names, r.Name)
		targets, notes = appendRule(targets, notes, r)
	}
	return Plan{Rules: names, Targets: targets, Notes: notes}
}

// appendRule appends one rule's targets and notes.
func appendRule(targets []Target, notes []Note, r allowlist.Rule) ([]Target, []Note) {
	names, sources, unprobed := ruleNames(r)
	if len(unprobed) > 0 {
		notes = append(notes, Note{r.Name, fmt.Sprintf("not checked: %s (a wildcard, and no probe name is known under it)", strings.Join(unprobed, ", "))})
	}
	if len(r.Domains) == 0 && len(r.CIDRs) > 0 {
		notes = append(notes, Note{r.Name, "not checked: addresses only (no name to probe)"})
	}
	ports, wide := probePorts(r.Ports)
	if len(wide) > 0 && len(names) > 0 {
		notes = append(notes, Note{r.Name, fmt.Sprintf("ports %s checked at their ends only", strings.Join(wide, ", "))})
	}
	for _, n := range names {
		for _, p := range ports {
			targets = append(targets, Target{Rule: r.Name, Name: n, Port: p, TLS: r.TLS == allowlist.TLSRequired, Probe: sources[n]})
		}
	}
	return targets, notes
}

// ruleNames returns the names to probe for r: its exact names, and the probe host of its
// preset entry when it lies under one of its wildcards (with its source); unprobed are the
// wildcards no probe host stands for.
func ruleNames(r allowlist.Rule) (names []string, sources map[string]string, unprobed []string) {
	sources = map[string]string{}
	probe := presetProbe(r.Name)
	for _, d := range r.Domains {
		suffix, wild := strings.CutPrefix(d, "*")
		if !wild {
			names = append(names, d)
			continue
		}
		if probe == nil || !strings.HasSuffix(probe.Name, suffix) {
			unprobed = append(unprobed, d)
			continue
		}
		if _, dup := sources[probe.Name]; !dup {
			names = append(names, probe.Name)
			sources[probe.Name] = probe.Source
		}
	}
	return names, sources, unprobed
}

// presetProbe is the probe of the preset entry behind a rule named "preset/entry", or nil.
func presetProbe(rule string) *presets.Probe {
	pn, en, ok := strings.Cut(rule, "/")
	if !ok {
		return nil
	}
	p, ok := presets.Get(pn)
	if !ok {
		return nil
	}
	for _, e := range p.Entries {
		if e.Name == en {
			return e.Probe
		}
	}
	return nil
}

// probePorts expands the port ranges, each wider range to its two ends (returned in wide).
func probePorts(ps allowlist.Ports) (ports []uint16, wide []string) {
	seen := map[uint16]bool{}
	add := func(p uint16) {
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	for _, r := range ps {
		if int(r.Hi)-int(r.Lo) >= maxRangePorts {
			wide = append(wide, allowlist.Ports{r}.String())
			add(r.Lo)
			add(r.Hi)
			continue
		}
		for p := int(r.Lo); p <= int(r.Hi); p++ {
			add(uint16(p))
		}
	}
	return ports, wide
}
