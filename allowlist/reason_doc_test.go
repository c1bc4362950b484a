package allowlist

import (
	"os"
	"strings"
	"testing"
)

// docs/siem.md lists every event.reason, so a SIEM admin finds each token the proxy can write.
func TestEveryReasonIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/siem.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "## Every `event.reason`")
	if !ok {
		t.Fatal("docs/siem.md has no section listing every event.reason")
	}
	for _, r := range Reasons() {
		if !strings.Contains(table, "`"+r.String()+"`") {
			t.Errorf("docs/siem.md does not list the reason %q", r)
		}
	}
}
