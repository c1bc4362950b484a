package presets

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/presets.md from the data")

var docPath = filepath.Join("..", "docs", "presets.md")

// TestMarkdownUpToDate keeps the committed docs/presets.md equal to what the data generates.
func TestMarkdownUpToDate(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(docPath, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	committed, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v; generate it with `go test ./presets -update`", err)
	}
	if !bytes.Equal(committed, buf.Bytes()) {
		t.Errorf("docs/presets.md does not match presets/data: run `go run ./cmd/mdmproxy presets --format markdown > docs/presets.md` (or `go test ./presets -update`) and commit the result")
	}
}

func TestWriteMarkdownContent(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, p := range All() {
		if !strings.Contains(md, "\n## "+p.Name+"\n") {
			t.Errorf("no section for %s", p.Name)
		}
		for _, e := range p.Entries {
			if !strings.Contains(md, "### `"+p.Name+"/"+e.Name+"`") {
				t.Errorf("no section for %s/%s", p.Name, e.Name)
			}
		}
	}
	for _, s := range []string{"`*.push.apple.com`", "<https://support.apple.com/fr-ca/102266>", "read 2026-11-23", "**Legacy:**"} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q", s)
		}
	}
}

func TestWriteList(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteList(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(All())+1 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("%d lines, want a header and one per preset:\n%s", len(lines), buf.String())
	}
	want := map[string][]string{
		"apple-push ":        {"Apple", " 4 "},
		"apple-push-legacy ": {"legacy"},
		"apple ":             {"Members: apple-push,"},
	}
	for _, line := range lines {
		for prefix, parts := range want {
			if strings.HasPrefix(line, prefix) {
				for _, part := range parts {
					if !strings.Contains(line, part) {
						t.Errorf("line %q lacks %q", line, part)
					}
				}
				delete(want, prefix)
			}
		}
	}
	for prefix := range want {
		t.Errorf("no line for %s", prefix)
	}
}

func TestWriteShow(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteShow(&buf, "apple-push-legacy"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range []string{"apple-push-legacy/gateway", "gateway.push.apple.com", "2195", "direction:  server",
		"https://developer.apple.com/forums/thread/112502", "read:       2026-11-30", "legacy: retired", "31 March 2021"} {
		if !strings.Contains(out, s) {
			t.Errorf("show lacks %q:\n%s", s, out)
		}
	}
	buf.Reset()
	if err := WriteShow(&buf, "google"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "google-fcm/mtalk") || !strings.Contains(buf.String(), "alt5-mtalk.google.com") {
		t.Errorf("a group's show lacks its members' entries:\n%s", buf.String())
	}
	if err := WriteShow(&buf, "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("WriteShow(nope) = %v, want an error naming it", err)
	}
}

// TestCoverageNamesEntries: every `preset/entry` the coverage table names exists, and every
// preset that is not a group appears in it, so the table cannot drift from the data.
func TestCoverageNamesEntries(t *testing.T) {
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z0-9-]+)/([a-z0-9-]+)`").FindAllStringSubmatch(markdownCoverage, -1) {
		if !entryExists(m[1] + "/" + m[2]) {
			t.Errorf("coverage names %s/%s, which is not an entry", m[1], m[2])
		}
		named[m[1]] = true
	}
	for _, p := range All() {
		if !p.IsGroup() && !named[p.Name] && !strings.HasPrefix(p.Name, "workspace-one-assist-") {
			t.Errorf("preset %s is not in the coverage table", p.Name)
		}
	}
}
