package config

import (
	"fmt"
	"slices"
	"strings"
)

// kind is the shape of a key's value.
type kind uint8

const (
	scalar  kind = iota // a string, number, duration or boolean
	list                // a list of scalars; from the environment, a comma-separated string
	section             // a map of known keys
	objects             // a list of maps of known keys; from the file only
)

// field is one key of the schema.
type field struct {
	name   string
	kind   kind
	fields []field // of a section, or of each object
}

// schema is every key mdmproxy knows, from the first release on. Decoding reads the same
// names; TestSchemaKeysAreDecoded checks the two agree.
var schema = []field{
	{name: "listen"},
	{name: "admin_listen"},
	{name: "admin_pprof"},
	{name: "clients", kind: list},
	{name: "presets", kind: list},
	{name: "presets_disabled", kind: list},
	{name: "roles", kind: section, fields: []field{
		{name: "server", kind: list},
		{name: "admin", kind: list},
	}},
	{name: "rules", kind: objects, fields: []field{
		{name: "name"},
		{name: "domains", kind: list},
		{name: "cidrs", kind: list},
		{name: "ports", kind: list},
		{name: "persistent"},
		{name: "tls"},
		{name: "clients", kind: list},
	}},
	{name: "default_action"},
	{name: "upstream"},
	{name: "upstream_forwarded_for"},
	{name: "mode"},
	{name: "deny_cidrs", kind: list},
	{name: "hosts", kind: objects, fields: []field{
		{name: "name"},
		{name: "ip"},
	}},
	{name: "timeouts", kind: section, fields: []field{
		{name: "header"},
		{name: "hello"},
		{name: "connect"},
		{name: "idle"},
		{name: "half_close"},
		{name: "shutdown_delay"},
		{name: "shutdown_grace"},
	}},
	{name: "limits", kind: section, fields: []field{
		{name: "max_header_bytes"},
		{name: "max_hello_bytes"},
		{name: "max_tunnels"},
		{name: "max_tunnels_per_client"},
	}},
	{name: "log", kind: section, fields: []field{
		{name: "level"},
		{name: "format"},
		{name: "output"},
		{name: "aggregate"},
		{name: "outputs", kind: objects, fields: []field{
			{name: "format"},
			{name: "output"},
			{name: "level"},
			{name: "rotate", kind: section, fields: []field{
				{name: "max_size_mb"},
				{name: "max_backups"},
				{name: "max_age_days"},
				{name: "compress"},
			}},
			{name: "tls", kind: section, fields: []field{
				{name: "ca"},
				{name: "cert"},
				{name: "key"},
				{name: "server_name"},
			}},
		}},
	}},
	{name: "pac", kind: section, fields: []field{
		{name: "proxy"},
		{name: "mdm"},
		{name: "direct", kind: list},
		{name: "rest"},
		{name: "listen"},
	}},
	{name: "proxy_protocol", kind: section, fields: []field{
		{name: "trusted", kind: list},
	}},
	{name: "transparent", kind: section, fields: []field{
		{name: "listen", kind: list},
		{name: "mode"},
	}},
}

// lookupKey finds a dotted key without list indexes ("timeouts.idle") in the schema.
func lookupKey(key string) (field, bool) {
	fields := schema
	parts := strings.Split(key, ".")
	for i, part := range parts {
		j := slices.IndexFunc(fields, func(f field) bool { return f.name == part })
		if j < 0 {
			return field{}, false
		}
		if i == len(parts)-1 {
			return fields[j], true
		}
		if fields[j].kind != section {
			return field{}, false
		}
		fields = fields[j].fields
	}
	return field{}, false
}

// leafKeys returns the dotted keys of every scalar and list key outside rule-like objects: the
// keys the environment and flags may set.
func leafKeys() []string {
	var keys []string
	var walk func(prefix string, fields []field)
	walk = func(prefix string, fields []field) {
		for _, f := range fields {
			switch f.kind {
			case scalar, list:
				keys = append(keys, joinKey(prefix, f.name))
			case section:
				walk(joinKey(prefix, f.name), f.fields)
			}
		}
	}
	walk("", schema)
	return keys
}

// checkStructure reports unknown keys and keys whose value has the wrong shape (a scalar where
// a section or a list of objects belongs) in the file's settings. Scalar values are checked
// when they are decoded.
func checkStructure(settings map[string]any) Errors {
	var errs Errors
	checkMap(settings, schema, "", &errs)
	return errs
}

func checkMap(m map[string]any, fields []field, prefix string, errs *Errors) {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		// viper matches keys case-insensitively; so does this check.
		lname := strings.ToLower(name)
		key := joinKey(prefix, lname)
		j := slices.IndexFunc(fields, func(f field) bool { return f.name == lname })
		if j < 0 {
			*errs = append(*errs, Error{Key: key, Msg: "unknown key (known here: " + fieldNames(fields) + ")"})
			continue
		}
		f, val := fields[j], m[name]
		if val == nil {
			continue
		}
		switch f.kind {
		case section:
			sub, ok := asMap(val)
			if !ok {
				*errs = append(*errs, Error{Key: key, Msg: fmt.Sprintf("must be a map with keys %s, not %s", fieldNames(f.fields), describe(val))})
				continue
			}
			checkMap(sub, f.fields, key, errs)
		case objects:
			items, ok := val.([]any)
			if !ok {
				*errs = append(*errs, Error{Key: key, Msg: fmt.Sprintf("must be a list of maps with keys %s, not %s", fieldNames(f.fields), describe(val))})
				continue
			}
			for i, item := range items {
				ikey := indexKey(key, i)
				sub, ok := asMap(item)
				if !ok {
					*errs = append(*errs, Error{Key: ikey, Msg: fmt.Sprintf("must be a map with keys %s, not %s", fieldNames(f.fields), describe(item))})
					continue
				}
				checkMap(sub, f.fields, ikey, errs)
			}
		}
	}
}

func fieldNames(fields []field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// asMap returns a decoded map with string keys (viper gives map[string]any; be lenient).
func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, val := range m {
			out[strings.ToLower(fmt.Sprint(k))] = val
		}
		return out, true
	}
	return nil, false
}

// describe names the type of a decoded value for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return "the string " + quote(x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return fmt.Sprintf("the number %v", x)
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a map"
	}
	return fmt.Sprintf("a %T", v)
}
