package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// parse reads YAML in pieces (yieldingReader); it must see what one yaml.Unmarshal of the
// whole text sees, whatever the size, and report the same errors.
func TestParseInPiecesMatchesUnmarshal(t *testing.T) {
	var big strings.Builder
	big.WriteString("rules:\n")
	for i := 0; big.Len() < 5*yieldEvery; i++ {
		fmt.Fprintf(&big, "  - name: r%d\n    domains: [\"a%d.example\", \"*.b%d.example\"]\n    ports: [443]\n", i, i, i)
	}
	cases := map[string]string{
		"empty":        "",
		"comment only": "# nothing\n",
		"null":         "~\n",
		"small":        "listen: \":3128\"\nrules: []\n",
		"anchors":      "a: &x {k: 1}\nb: *x\nc: {<<: *x, j: 2}\n",
		"big":          big.String(),
		"two docs":     "listen: \":1\"\n---\nlisten: \":2\"\n",
	}
	for name, text := range cases {
		want := map[string]any{}
		wantErr := yaml.Unmarshal([]byte(text), &want)
		got, perr := parse(viper.New(), source{name: "t.yaml", format: "yaml", data: []byte(text)})
		if (wantErr != nil) != (perr != nil) {
			t.Errorf("%s: error %v, yaml.Unmarshal says %v", name, perr, wantErr)
			continue
		}
		if wantErr == nil && !reflect.DeepEqual(lowerKeys(want), got) {
			t.Errorf("%s: parsed differently:\ngot  %v\nwant %v", name, got, want)
		}
	}
	bad := "listen: \":3128\"\nrules:\n  - name: [unclosed\n"
	_, perr := parse(viper.New(), source{name: "t.yaml", format: "yaml", data: []byte(bad)})
	if perr == nil || perr[0].Line == 0 {
		t.Errorf("malformed file: %v, want an error with its line", perr)
	}
}

// lowerKeys lower-cases map keys as viper does to the tree parse shares with it.
func lowerKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[strings.ToLower(k)] = lowerKeys(x)
		}
		return out
	case []any:
		for i := range v {
			v[i] = lowerKeys(v[i])
		}
	}
	return v
}
