package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

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
		got, perr := parse(source{name: "t.yaml", format: "yaml", data: []byte(text)})
		if (wantErr != nil) != (perr != nil) {
			t.Errorf("%s: error %v, yaml.Unmarshal says %v", name, perr, wantErr)
			continue
		}
		if wantErr == nil && !reflect.DeepEqual(want, got) && len(want)+len(got) > 0 {
			t.Errorf("%s: parsed differently:\ngot  %v\nwant %v", name, got, want)
		}
	}
	// Errors carry the line the whole-text parse names, also past the first pieces.
	for name, bad := range map[string]string{
		"unclosed flow":   "listen: \":3128\"\nrules:\n  - name: [unclosed\n",
		"bad indentation": "listen: a\n  timeouts: b\n c: d\n",
		"after 5 pieces":  big.String() + "  - name: [unclosed\n",
	} {
		var m0 map[string]any
		wantErr := yaml.Unmarshal([]byte(bad), &m0)
		m := yamlLineRE.FindStringSubmatch(fmt.Sprint(wantErr))
		_, perr := parse(source{name: "t.yaml", format: "yaml", data: []byte(bad)})
		if m == nil || perr == nil || fmt.Sprint(perr[0].Line) != m[1] || perr[0].Line == 0 {
			t.Errorf("%s: %v, want the line of %v", name, perr, wantErr)
		}
	}
}

// Keys that differ only in case are reported in every format, not merged at random.
func TestCaseTwinsInEveryFormat(t *testing.T) {
	for name, text := range map[string]string{
		"mdmproxy.json": `{"listen": ":1", "LISTEN": ":2"}`,
		"mdmproxy.toml": "listen = \":1\"\nLISTEN = \":2\"\n",
		"mdmproxy.yaml": "listen: \":1\"\nLISTEN: \":2\"\n",
	} {
		_, _, err := loadText(t, name, text)
		errs := problems(t, err)
		if len(errs) != 1 || errs[0].Key != "listen" || !strings.Contains(errs[0].Msg, `given twice, as "LISTEN" and "listen"`) {
			t.Errorf("%s: %v", name, errs)
		}
	}
}
