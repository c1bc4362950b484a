package config

import (
	"os"

	"github.com/spf13/viper"
)

// LoadOptions says where Load takes the configuration from.
type LoadOptions struct {
	// Path is the configuration file (.yaml, .yml, .toml or .json); "" loads the embedded
	// default.
	Path string
	// Env is the environment, as os.Environ returns it; MDMPROXY_<KEY> variables override the
	// file. nil means os.Environ(); pass an empty slice for none.
	Env []string
	// Flags maps dotted keys ("listen", "admin_listen", "timeouts.idle") to values, in the
	// environment's form (lists comma-separated). They override the environment. Only the flags
	// the user gave belong here.
	Flags map[string]string
}

// Load reads, checks and returns a configuration: the file (or the embedded default), then the
// environment, then the flags, over the built-in defaults. Each call uses a fresh viper and a
// fresh Config, so it is safe to call from any goroutine, e.g. to reload.
//
// When the configuration is invalid the error is an Errors with every problem found. A file
// that cannot be read gives a plain error wrapping the os error.
func Load(opts LoadOptions) (*Config, error) {
	src, err := readSource(opts.Path)
	if err != nil {
		return nil, err
	}
	raw, perr := parse(src)
	if perr != nil {
		return nil, perr
	}
	errs := caseTwins(raw, "") // before viper merges the twins
	v := viper.New()
	if perr := toViper(v, src, raw); perr != nil {
		return nil, perr
	}
	errs = append(errs, checkStructure(raw)...)
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	over := applyOverrides(v, env, opts.Flags)

	c := schemaDefaults()
	d := decoder{v: v}
	d.decode(c)
	errs = append(errs, d.errs...)
	errs = append(errs, validate(c)...)

	if len(errs) > 0 || len(over.errs) > 0 {
		// Line numbers cost a second parse of the file: only an invalid file needs them.
		var lines lineIndex
		if src.format == "yaml" {
			lines = yamlLines(src.data)
		}
		errs = locate(errs, src.name, raw, lines, over.source, d.aliases)
		return nil, append(errs, over.errs...).sorted()
	}
	complete(c)
	return c, nil
}

// complete fills in what the checked configuration leaves implicit.
func complete(c *Config) {
	for i := range c.Log.Outputs {
		if c.Log.Outputs[i].Level == "" {
			c.Log.Outputs[i].Level = c.Log.Level
		}
	}
}
