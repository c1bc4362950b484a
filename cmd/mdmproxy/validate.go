package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/mdmproxy/mdmproxy/internal/app"
)

// validate loads and checks a configuration: exit 0 valid, 2 invalid.
func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file to check (required)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: mdmproxy validate --config FILE")
		return exitInvalid
	}
	cfg, code, ok := loadConfig(*path, nil, stderr)
	if !ok {
		return code
	}
	settings, err := app.Validate(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "mdmproxy: invalid configuration:\n%v\n", err)
		return exitInvalid
	}
	fmt.Fprintf(stdout, "%s: valid (%d rules, default_action %s)\n", *path, len(settings.Policy.Rules()), settings.Policy.DefaultAction())
	return exitOK
}
