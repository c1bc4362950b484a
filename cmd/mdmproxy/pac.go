package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/mdmproxy/mdmproxy/internal/app"
)

// pacCmd prints the PAC file the server serves for the same configuration: exit 0, or 2 on an
// invalid configuration or without a proxy address (pac.proxy or --proxy).
func pacCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pac", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file; none: the embedded default policy")
	proxyAddr := fs.String("proxy", "", "HOST:PORT devices reach the proxy at (default: pac.proxy)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mdmproxy pac: unexpected argument %q\n", fs.Arg(0))
		return exitInvalid
	}
	cfg, code, ok := loadConfig(*path, nil, stderr)
	if !ok {
		return code
	}
	addr := *proxyAddr
	if addr == "" {
		addr = cfg.PAC.Proxy
	}
	if addr == "" {
		fmt.Fprintln(stderr, "mdmproxy pac: no proxy address: set pac.proxy or pass --proxy HOST:PORT (how devices reach this proxy)")
		return exitInvalid
	}
	set, err := app.Settings(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "mdmproxy: invalid configuration:\n%v\n", err)
		return exitInvalid
	}
	f, err := app.PAC(cfg, set.Policy)
	if err != nil {
		fmt.Fprintf(stderr, "mdmproxy: invalid configuration:\n%v\n", err)
		return exitInvalid
	}
	s, err := f.Script(addr)
	if err != nil {
		fmt.Fprintf(stderr, "mdmproxy pac: proxy address: %v\n", err)
		return exitInvalid
	}
	if _, err := s.WriteTo(stdout); err != nil {
		fmt.Fprintf(stderr, "mdmproxy pac: %v\n", err)
		return exitFailure
	}
	return exitOK
}
