package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/mdmproxy/mdmproxy/presets"
)

// presetsCmd lists the built-in MDM presets, shows one, or writes docs/presets.md.
func presetsCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("presets", flag.ContinueOnError)
	format := fs.String("format", "text", "text or markdown (markdown writes the whole of docs/presets.md)")
	var names []string
	for {
		if code, ok := parseFlags(fs, args, stderr); !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		args = fs.Args()[1:]
	}
	var err error
	switch {
	case *format == "markdown" && len(names) == 0:
		err = presets.WriteMarkdown(stdout)
	case *format != "text":
		fmt.Fprintf(stderr, "mdmproxy presets: --format %q: want text, or markdown without a name\n", *format)
		return exitInvalid
	case len(names) == 0:
		err = presets.WriteList(stdout)
	case len(names) == 1:
		if _, ok := presets.Get(names[0]); !ok {
			fmt.Fprintf(stderr, "mdmproxy presets: no preset named %q (mdmproxy presets lists them)\n", names[0])
			return exitInvalid
		}
		err = presets.WriteShow(stdout, names[0])
	default:
		fmt.Fprintln(stderr, "usage: mdmproxy presets [NAME] [--format text|markdown]")
		return exitInvalid
	}
	if err != nil {
		fmt.Fprintf(stderr, "mdmproxy presets: %v\n", err)
		return exitFailure
	}
	return exitOK
}
