package config

import (
	"strings"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/presets"
)

// checkPresets checks presets and presets_disabled one name at a time, so each problem names
// its list item, and refuses admin rules that take the name of a selected preset entry (the
// SIEM must be able to tell a vendor's entry from the admin's own rule).
func checkPresets(c *Config) Errors {
	var errs Errors
	for i, name := range c.Presets {
		if _, err := presets.Rules([]string{name}, nil); err != nil {
			errs = append(errs, Error{Key: indexKey("presets", i), Msg: strings.TrimPrefix(err.Error(), "presets: ")})
		}
	}
	for i, name := range c.PresetsDisabled {
		if _, err := presets.Rules(nil, []string{name}); err != nil {
			errs = append(errs, Error{Key: indexKey("presets_disabled", i), Msg: strings.TrimPrefix(err.Error(), "presets_disabled: ")})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	taken := map[string]bool{}
	for _, r := range c.presetRules() {
		taken[r.Name] = true
	}
	for i, r := range c.Rules {
		if taken[r.Name] {
			errs = append(errs, Error{Key: indexKey("rules", i) + ".name", Msg: quote(r.Name) + " is the name of a preset entry in use; choose another"})
		}
	}
	return errs
}

// presetRules expands the selected presets into rules named "preset/entry". Load has checked
// the names, so an error here cannot happen for a loaded Config; it yields no rules.
func (c *Config) presetRules() []allowlist.Rule {
	if len(c.Presets) == 0 {
		return nil
	}
	rules, err := presets.Rules(c.Presets, c.PresetsDisabled)
	if err != nil {
		return nil
	}
	return rules
}
