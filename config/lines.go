package config

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// lineIndex maps dotted keys as errors name them ("timeouts.idle", "rules[2].ports[0]") to their
// line in a YAML file. Keys are lower case, as viper sees them.
type lineIndex map[string]int

// maxIndexDepth bounds the walk; real configurations are five levels deep.
const maxIndexDepth = 32

// yamlLines indexes the keys and list items of a YAML document. It returns nil when the text
// does not parse (the parse error is reported elsewhere).
func yamlLines(data []byte) lineIndex {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil
	}
	idx := lineIndex{}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		idx.walk(doc.Content[0], "", 0)
	}
	return idx
}

func (idx lineIndex) walk(n *yaml.Node, path string, depth int) {
	if depth > maxIndexDepth {
		return
	}
	// Aliases are not followed: their keys get no line, and an alias bomb costs nothing here.
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				continue
			}
			p := joinKey(path, strings.ToLower(k.Value))
			if _, seen := idx[p]; !seen {
				idx[p] = k.Line
			}
			idx.walk(v, p, depth+1)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := indexKey(path, i)
			idx[p] = item.Line
			idx.walk(item, p, depth+1)
		}
	}
}

// line returns the line of key, or of its nearest ancestor the file contains; 0 if none.
func (idx lineIndex) line(key string) int {
	for k := key; k != ""; k = parentKey(k) {
		if l, ok := idx[k]; ok {
			return l
		}
	}
	return 0
}

// joinKey appends a map key to a dotted path.
func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// indexKey appends a list index to a dotted path: rules[2].
func indexKey(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// parentKey strips the last element of a dotted path: "rules[2].ports[0]" -> "rules[2].ports"
// -> "rules[2]" -> "rules" -> "".
func parentKey(key string) string {
	if strings.HasSuffix(key, "]") {
		if i := strings.LastIndexByte(key, '['); i >= 0 {
			return key[:i]
		}
	}
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i]
	}
	return ""
}
