package presets

import (
	"slices"
	"strings"
	"sync"
)

// Entry is one requirement of a preset: which destinations, on which ports, and why.
type Entry struct {
	Name       string   `yaml:"name"`
	Domains    []string `yaml:"domains"`
	CIDRs      []string `yaml:"cidrs"`
	Ports      []string `yaml:"ports"` // "443", "5228-5230"
	Direction  string   `yaml:"direction"`
	Persistent bool     `yaml:"persistent"`
	TLS        string   `yaml:"tls"` // "required" or "optional"; "" reads as required
	Purpose    string   `yaml:"purpose"`
	Sources    []string `yaml:"sources"`
	Read       string   `yaml:"read"` // YYYY-MM-DD the sources were read
	Note       string   `yaml:"note"`
	Probe      *Probe   `yaml:"probe"` // optional
}

// Probe is a documented host name under one of an entry's wildcards, for checks such as
// `mdmproxy doctor` that need a real name to connect to: a wildcard cannot be dialled.
type Probe struct {
	Name   string `yaml:"name"`   // an exact name the entry's domains match
	Source string `yaml:"source"` // the URL that documents the name
}

// Directions an entry may have.
const (
	DirectionDevice = "device" // managed device to the internet
	DirectionServer = "server" // MDM server to the internet
	DirectionAdmin  = "admin"  // an administrator's browser to the internet
)

// Preset is a named set of entries, or a group of other presets.
type Preset struct {
	Name        string   `yaml:"name"`
	Vendor      string   `yaml:"-"` // from the vendor file
	Description string   `yaml:"description"`
	Legacy      bool     `yaml:"legacy"` // retired endpoints; off unless named
	Entries     []Entry  `yaml:"entries"`
	Group       []string `yaml:"group"` // member presets; a group has no entries of its own
}

// IsGroup reports whether p stands for other presets rather than entries of its own.
func (p Preset) IsGroup() bool { return len(p.Group) > 0 }

// catalog is the embedded data, loaded and checked on first use. The data is validated by the
// package's tests, so a failure here is a build defect.
var catalog = sync.OnceValue(func() []Preset {
	ps, err := load()
	if err == nil {
		err = validate(ps)
	}
	if err != nil {
		panic("presets: embedded data: " + err.Error())
	}
	return ps
})

// All returns every built-in preset and group, sorted by name.
func All() []Preset {
	ps := catalog()
	out := make([]Preset, len(ps))
	for i, p := range ps {
		out[i] = p.clone()
	}
	return out
}

// Get returns the preset or group called name.
func Get(name string) (Preset, bool) {
	p, ok := find(name)
	if !ok {
		return Preset{}, false
	}
	return p.clone(), true
}

// find looks name up in the catalogue without copying.
func find(name string) (Preset, bool) {
	ps := catalog()
	i, ok := slices.BinarySearchFunc(ps, name, func(p Preset, n string) int { return strings.Compare(p.Name, n) })
	if !ok {
		return Preset{}, false
	}
	return ps[i], true
}

// clone copies p deeply, so callers cannot change the catalogue.
func (p Preset) clone() Preset {
	p.Group = slices.Clone(p.Group)
	p.Entries = slices.Clone(p.Entries)
	for i := range p.Entries {
		e := &p.Entries[i]
		e.Domains = slices.Clone(e.Domains)
		e.CIDRs = slices.Clone(e.CIDRs)
		e.Ports = slices.Clone(e.Ports)
		e.Sources = slices.Clone(e.Sources)
		if e.Probe != nil {
			pr := *e.Probe
			e.Probe = &pr
		}
	}
	return p
}
