package main

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mdmproxy/mdmproxy/internal/doctor"
)

// doctorCmd checks from this host that every enabled rule's names answer on the rule's ports
// (resolve, connect, and a TLS handshake with the SNI for tls: required rules). Exit 0 when all
// are reachable, 1 when any is not, 2 for an invalid configuration or bad flags.
func doctorCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file; none: the embedded default policy")
	format := fs.String("format", "text", "output format: text or json")
	timeout := fs.Duration("timeout", doctor.DefaultTimeout, "time allowed for each step of a check (resolve, connect, TLS handshake)")
	caFile := fs.String("ca", "", "PEM file of the roots certificates must chain to (default: the system's trusted roots)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mdmproxy doctor: unexpected argument %q\n", fs.Arg(0))
		return exitInvalid
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "mdmproxy doctor: --format: %q is not one of text, json\n", *format)
		return exitInvalid
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "mdmproxy doctor: --timeout: %v is not a positive duration\n", *timeout)
		return exitInvalid
	}
	var roots *x509.CertPool
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintf(stderr, "mdmproxy doctor: --ca: %v\n", err)
			return exitInvalid
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "mdmproxy doctor: --ca: %s holds no PEM certificate\n", *caFile)
			return exitInvalid
		}
	}
	set, code, ok := loadSettings(*path, stderr)
	if !ok {
		return code
	}

	plan := doctor.NewPlan(set.Policy.Rules())
	c := doctor.Checker{Hosts: set.Hosts, Roots: roots, Timeout: *timeout}
	rep := doctor.NewReport(plan, c.Run(context.Background(), plan.Targets))
	var err error
	if *format == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		fmt.Fprintf(stdout, "mdmproxy doctor: %d checks from this host (%s), each step within %v\n\n", len(plan.Targets), hostName(), *timeout)
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mdmproxy doctor: %v\n", err)
		return exitFailure
	}
	if !rep.OK() {
		return exitFailure
	}
	return exitOK
}

func hostName() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown host"
	}
	return h
}
