package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem with a configuration.
type Error struct {
	// Key is the dotted key the problem is about, with list indexes: "timeouts.idle",
	// "rules[2].ports[1]". Empty when the problem is the file as a whole (it cannot be parsed).
	Key string
	// Line is the line of the key in the file; 0 when unknown (TOML and JSON files, values from
	// the environment or flags, keys the file does not contain).
	Line int
	// File is where the value came from: the configuration file's path, "$MDMPROXY_<KEY>" for an
	// environment variable, or "flag <key>" for a flag.
	File string
	// Msg says what is wrong, in words an admin can act on.
	Msg string
}

func (e Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration. Load returns it (as its error) when the
// configuration is invalid; use errors.As to tell it from an I/O failure.
type Errors []Error

// Error lists all problems, one per line, each as "FILE:LINE: KEY: MSG".
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted orders the problems by file, then line (unknown lines last), then key, and drops
// exact duplicates.
func (e Errors) sorted() Errors {
	out := slices.Clone(e)
	slices.SortStableFunc(out, func(a, b Error) int {
		if c := cmp.Compare(a.File, b.File); c != 0 {
			return c
		}
		if c := cmp.Compare(lineOrder(a.Line), lineOrder(b.Line)); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return slices.Compact(out)
}

func lineOrder(l int) int {
	if l <= 0 {
		return int(^uint(0) >> 1)
	}
	return l
}
