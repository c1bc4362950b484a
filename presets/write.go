package presets

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteList writes the catalogue as a table: name, vendor, entries, legacy flag, description.
// A group's entry count is the sum of its members'.
func WriteList(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVENDOR\tENTRIES\tLEGACY\tDESCRIPTION")
	for _, p := range catalog() {
		legacy := "-"
		if p.Legacy {
			legacy = "legacy"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Vendor, entryCount(p), legacy, description(p))
	}
	return tw.Flush()
}

// WriteShow writes one preset's entries with their domains, CIDRs, ports, direction,
// persistence, tls mode, purpose, note, sources and read date. For a group it writes every
// member. An unknown name is an error.
func WriteShow(w io.Writer, name string) error {
	p, ok := find(name)
	if !ok {
		return fmt.Errorf("unknown preset %q (`mdmproxy presets` lists them)", name)
	}
	bw := bufio.NewWriter(w)
	showHeader(bw, p)
	for _, m := range p.Group {
		mp, _ := find(m)
		fmt.Fprintln(bw)
		showHeader(bw, mp)
		showEntries(bw, mp)
	}
	showEntries(bw, p)
	return bw.Flush()
}

func showHeader(w io.Writer, p Preset) {
	fmt.Fprintf(w, "%s (%s): %s\n", p.Name, p.Vendor, description(p))
	if p.Legacy {
		fmt.Fprintln(w, "legacy: retired endpoints, off unless named")
	}
}

func showEntries(w io.Writer, p Preset) {
	for _, e := range p.Entries {
		fmt.Fprintf(w, "\n  %s/%s\n", p.Name, e.Name)
		field := func(k, v string) { fmt.Fprintf(w, "    %-11s %s\n", k+":", v) }
		field("purpose", wrap(e.Purpose))
		field("domains", list(e.Domains, ", "))
		field("cidrs", list(e.CIDRs, ", "))
		field("ports", list(e.Ports, ", "))
		field("direction", e.Direction)
		field("persistent", yesNo(e.Persistent))
		field("tls", tlsMode(e))
		if e.Note != "" {
			field("note", wrap(e.Note))
		}
		if e.Probe != nil {
			field("probe", e.Probe.Name+" ("+e.Probe.Source+")")
		}
		field("sources", list(e.Sources, "\n"+showIndent))
		field("read", e.Read)
	}
}

// showIndent lines up continuation lines with the values of showEntries' fields.
const showIndent = "                "

// wrap breaks text into lines of at most about 100 columns, continued at showIndent.
func wrap(text string) string {
	const width = 100 - len(showIndent)
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(text) {
		switch {
		case i == 0:
		case n+1+len(word) > width:
			b.WriteString("\n" + showIndent)
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// entryCount is a preset's number of entries; for a group, its members' total.
func entryCount(p Preset) string {
	if !p.IsGroup() {
		return strconv.Itoa(len(p.Entries))
	}
	n := 0
	for _, m := range p.Group {
		mp, _ := find(m)
		n += len(mp.Entries)
	}
	return strconv.Itoa(n)
}

// description is p's description; for a group, followed by its members.
func description(p Preset) string {
	if !p.IsGroup() {
		return p.Description
	}
	return p.Description + " Members: " + strings.Join(p.Group, ", ") + "."
}

func tlsMode(e Entry) string {
	if e.TLS == "" {
		return "required"
	}
	return e.TLS
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func list(ss []string, sep string) string {
	if len(ss) == 0 {
		return "-"
	}
	return strings.Join(ss, sep)
}
