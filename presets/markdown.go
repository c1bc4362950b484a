package presets

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the whole of docs/presets.md: how presets are used, the list, the
// coverage of the seed documents and vendor lists, and every preset's entries with their sources.
func WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(markdownIntro)
	ps := catalog()

	fmt.Fprint(bw, "\n## Presets\n\n| preset | vendor | entries | description |\n|---|---|---|---|\n")
	for _, p := range ps {
		count := entryCount(p)
		switch {
		case p.IsGroup():
			count += " (group)"
		case p.Legacy:
			count += " (legacy)"
		}
		fmt.Fprintf(bw, "| [`%s`](#%s) | %s | %s | %s |\n", p.Name, p.Name, p.Vendor, count, p.Description)
	}

	bw.WriteString(markdownCoverage)

	for _, p := range ps {
		fmt.Fprintf(bw, "\n## %s\n\n%s. %s\n", p.Name, p.Vendor, p.Description)
		if p.Legacy {
			fmt.Fprint(bw, "\n**Legacy:** retired endpoints, off unless named.\n")
		}
		if p.IsGroup() {
			links := make([]string, len(p.Group))
			for i, m := range p.Group {
				links[i] = fmt.Sprintf("[`%s`](#%s)", m, m)
			}
			fmt.Fprintf(bw, "\nGroup of %s.\n", strings.Join(links, ", "))
		}
		for _, e := range p.Entries {
			fmt.Fprintf(bw, "\n### `%s/%s`\n\n%s\n\n", p.Name, e.Name, e.Purpose)
			if len(e.Domains) > 0 {
				fmt.Fprintf(bw, "- domains: %s\n", codeList(e.Domains))
			}
			if len(e.CIDRs) > 0 {
				fmt.Fprintf(bw, "- cidrs: %s\n", codeList(e.CIDRs))
			}
			fmt.Fprintf(bw, "- ports: %s · direction: %s · persistent: %s · tls: %s\n",
				strings.Join(e.Ports, ", "), e.Direction, yesNo(e.Persistent), tlsMode(e))
			if e.Note != "" {
				fmt.Fprintf(bw, "- note: %s\n", e.Note)
			}
			if e.Probe != nil {
				fmt.Fprintf(bw, "- probe: `%s` (<%s>)\n", e.Probe.Name, e.Probe.Source)
			}
			links := make([]string, len(e.Sources))
			for i, s := range e.Sources {
				links[i] = "<" + s + ">"
			}
			fmt.Fprintf(bw, "- sources (read %s): %s\n", e.Read, strings.Join(links, ", "))
		}
	}
	return bw.Flush()
}

func codeList(ss []string) string {
	return "`" + strings.Join(ss, "`, `") + "`"
}

// markdownCoverage follows the list of presets in docs/presets.md: what each seed document and
// vendor list asks for and which entry covers it. TestCoverageNamesEntries keeps its entry names
// real.
//
//go:embed coverage.md
var markdownCoverage string

// markdownIntro opens docs/presets.md: how presets are used and what the fields mean.
//
//go:embed intro.md
var markdownIntro string
