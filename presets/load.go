package presets

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed data/*.yaml
var dataFS embed.FS

// vendorFile is the shape of one file in data/.
type vendorFile struct {
	Vendor  string   `yaml:"vendor"`
	Presets []Preset `yaml:"presets"`
}

// load parses every embedded vendor file and returns the presets sorted by name. It checks the
// files' shape (unknown keys are errors) and that no preset name is used twice; validate checks
// the content.
func load() ([]Preset, error) {
	files, err := fs.Glob(dataFS, "data/*.yaml")
	if err != nil {
		return nil, err
	}
	var all []Preset
	from := map[string]string{} // preset name -> file
	var errs []error
	for _, f := range files {
		b, err := dataFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		vf, err := parseVendorFile(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		for _, p := range vf.Presets {
			if prev, dup := from[p.Name]; dup {
				errs = append(errs, fmt.Errorf("%s: preset %q is also defined in %s", f, p.Name, prev))
				continue
			}
			from[p.Name] = f
			p.Vendor = vf.Vendor
			all = append(all, p)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b Preset) int { return strings.Compare(a.Name, b.Name) })
	return all, nil
}

// parseVendorFile decodes one vendor file strictly: unknown keys and trailing documents are errors.
func parseVendorFile(b []byte) (vendorFile, error) {
	var vf vendorFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&vf); err != nil {
		return vendorFile{}, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return vendorFile{}, errors.New("more than one YAML document")
	}
	if vf.Vendor == "" {
		return vendorFile{}, errors.New("no vendor")
	}
	return vf, nil
}
