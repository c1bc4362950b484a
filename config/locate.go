package config

import (
	"strconv"
	"strings"
)

// locate says where each problem's value came from: an environment variable or flag that
// overrides its key (or an ancestor), else the file when the file has the key or an ancestor
// (with the line, for YAML), else nowhere (a built-in default). It first renames the keys of
// the log short form, which is decoded as log.outputs[0].
func locate(errs Errors, file string, raw map[string]any, lines lineIndex, sources, aliases map[string]string) Errors {
	out := make(Errors, len(errs))
	for i, e := range errs {
		if alias, ok := aliases[e.Key]; ok {
			e.Key = alias
		}
		e.File, e.Line = "", 0
		for k := e.Key; k != "" && e.File == ""; k = parentKey(k) {
			e.File = sources[k]
		}
		for k := e.Key; k != "" && e.File == ""; k = parentKey(k) {
			if inFile(raw, k) {
				e.File, e.Line = file, lines.line(e.Key)
			}
		}
		out[i] = e
	}
	return out
}

// inFile reports whether the file's settings contain a dotted key such as "rules[2].ports".
// Map keys compare case-insensitively, as viper does.
func inFile(raw map[string]any, key string) bool {
	var cur any = raw
	for _, part := range strings.Split(key, ".") {
		name, rest, _ := strings.Cut(part, "[")
		m, ok := asMap(cur)
		if !ok {
			return false
		}
		found := false
		for k, v := range m {
			if strings.EqualFold(k, name) {
				cur, found = v, true
				break
			}
		}
		if !found {
			return false
		}
		for rest != "" {
			idx, after, ok := strings.Cut(rest, "]")
			n, err := strconv.Atoi(idx)
			items, isList := cur.([]any)
			if !ok || err != nil || !isList || n < 0 || n >= len(items) {
				return false
			}
			cur = items[n]
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return true
}
