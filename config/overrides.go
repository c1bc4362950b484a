package config

import (
	"slices"
	"strings"

	"github.com/spf13/viper"
)

// EnvPrefix starts every environment variable that overrides a key: MDMPROXY_TIMEOUTS_IDLE
// sets timeouts.idle.
const EnvPrefix = "MDMPROXY_"

// EnvName returns the environment variable that overrides a dotted key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// overrides are the values the environment and flags set, applied over the file's.
type overrides struct {
	// source maps each overridden key to where its value came from, as Error.File shows it.
	source map[string]string
	errs   Errors
}

// applyOverrides sets env and flag values on v, flags last so that they win. Only scalar and
// list keys may be set this way; each value stays a string (lists comma-separated) and is
// checked when decoded. An empty environment variable counts as unset, as in viper.
//
// A variable naming a section or a file-only key is an error. Other MDMPROXY_ variables that
// name no key are ignored: Kubernetes gives every pod MDMPROXY_PORT, MDMPROXY_SERVICE_HOST and
// the like when a Service is called mdmproxy, and the test tools use MDMPROXY_BIN.
func applyOverrides(v *viper.Viper, env []string, flags map[string]string) overrides {
	o := overrides{source: map[string]string{}}
	byEnv := map[string]string{}
	for _, key := range leafKeys() {
		byEnv[EnvName(key)] = key
	}

	// Later entries win, as in exec.Cmd; report each bad name once.
	values := map[string]string{}
	var names []string
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		if _, seen := values[name]; !seen {
			names = append(names, name)
		}
		values[name] = value
	}
	slices.Sort(names)
	for _, name := range names {
		value := values[name]
		if value == "" {
			continue
		}
		key, ok := byEnv[name]
		if !ok {
			if key, msg := envNameProblem(name); key != "" {
				o.errs = append(o.errs, Error{File: "$" + name, Key: key, Msg: msg})
			}
			continue
		}
		v.Set(key, value)
		o.source[key] = "$" + name
	}

	keys := make([]string, 0, len(flags))
	for key := range flags {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		src := "flag " + key
		f, ok := lookupKey(key)
		switch {
		case !ok:
			o.errs = append(o.errs, Error{File: src, Key: key, Msg: "unknown key"})
			continue
		case f.kind == objects:
			o.errs = append(o.errs, Error{File: src, Key: key, Msg: "comes from the configuration file only"})
			continue
		case f.kind == section:
			o.errs = append(o.errs, Error{File: src, Key: key, Msg: "is a section; set one of its keys (" + sectionKeys(key, f, identity) + ")"})
			continue
		}
		v.Set(key, flags[key])
		o.source[key] = src
	}
	return o
}

// envNameProblem explains why an MDMPROXY_ variable names no settable key: the section or
// file-only key it names and what is wrong; key is "" when it names no key at all.
func envNameProblem(name string) (key, msg string) {
	var walk func(prefix string, fields []field) bool
	walk = func(prefix string, fields []field) bool {
		for _, f := range fields {
			k := joinKey(prefix, f.name)
			if EnvName(k) == name {
				switch f.kind {
				case objects:
					key, msg = k, "comes from the configuration file only"
					return true
				case section:
					key, msg = k, "is a section; set one of its keys ("+sectionKeys(k, f, EnvName)+")"
					return true
				}
			}
			if f.kind == section && walk(k, f.fields) {
				return true
			}
		}
		return false
	}
	if walk("", schema) {
		return key, msg
	}
	return "", ""
}

// sectionKeys lists a section's settable keys, each as name(key).
func sectionKeys(prefix string, f field, name func(string) string) string {
	var names []string
	for _, sub := range f.fields {
		if sub.kind == scalar || sub.kind == list {
			names = append(names, name(joinKey(prefix, sub.name)))
		}
	}
	return strings.Join(names, ", ")
}

func identity(s string) string { return s }
