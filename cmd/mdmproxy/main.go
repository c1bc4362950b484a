// Command mdmproxy is the Wi-Fi egress proxy that keeps MDM push connections working: it
// splices allowlisted MDM tunnels unfiltered and refuses or forwards the rest.
//
//	mdmproxy serve [--config FILE] [--listen ADDR] [--admin-listen ADDR]
//	mdmproxy validate --config FILE
//	mdmproxy check [--config FILE] [--sni NAME] [--client IP] HOST:PORT
//	mdmproxy presets [NAME] [--format text|markdown]
//	mdmproxy doctor [--config FILE] [--format text|json] [--timeout DUR] [--ca FILE]
//	mdmproxy pac [--config FILE] [--proxy HOST:PORT]
//	mdmproxy version
//
// Exit status: 0 success; 2 invalid configuration or bad input; 1 any other failure (and, for
// check, a deny).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitInvalid = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stderr)
	case "validate":
		return validate(args, stdout, stderr)
	case "check":
		return check(args, stdout, stderr)
	case "presets":
		return presetsCmd(args, stdout, stderr)
	case "doctor":
		return doctorCmd(args, stdout, stderr)
	case "pac":
		return pacCmd(args, stdout, stderr)
	case "version":
		return version(stdout)
	case "help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "mdmproxy: unknown command %q\n", cmd)
	usage(stderr)
	return exitInvalid
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  mdmproxy serve [--config FILE] [--listen ADDR] [--admin-listen ADDR]
  mdmproxy validate --config FILE
  mdmproxy check [--config FILE] [--sni NAME] [--client IP] HOST:PORT
  mdmproxy presets [NAME] [--format text|markdown]
  mdmproxy doctor [--config FILE] [--format text|json] [--timeout DUR] [--ca FILE]
  mdmproxy pac [--config FILE] [--proxy HOST:PORT]
  mdmproxy version
`)
}

// parseFlags parses fs and reports a usage error as exit status 2.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitInvalid, false
	}
	return 0, true
}
