package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/proxy"
)

// check explains what the policy does with one connection. It asks the same decision function
// the proxy asks, in the same steps: the target, then each address the name resolves to, then
// the SNI. Exit 0 splice/upstream/allow, 1 deny, 2 bad input.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file; none: the embedded default policy")
	sni := fs.String("sni", "", "TLS server name the client sends (default: none)")
	clientFlag := fs.String("client", "127.0.0.1", "client address")
	intercepted := fs.Bool("intercepted", false, "decide as for a flow intercepted on its way to ADDR:PORT (transparent.listen): CIDR rules for the address, domain rules for the --sni when it resolves to that address")
	// Accept flags before and after HOST:PORT.
	var positional []string
	for {
		if code, ok := parseFlags(fs, args, stderr); !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) != 1 {
		fmt.Fprintln(stderr, "usage: mdmproxy check [--config FILE] [--sni NAME] [--client IP] [--intercepted] HOST:PORT")
		return exitInvalid
	}
	target, err := allowlist.ParseTarget(positional[0])
	if err != nil {
		fmt.Fprintf(stderr, "mdmproxy check: %v\n", err)
		return exitInvalid
	}
	client, err := netip.ParseAddr(*clientFlag)
	if err != nil {
		fmt.Fprintf(stderr, "mdmproxy check: --client: %q is not an IP address\n", *clientFlag)
		return exitInvalid
	}
	q := allowlist.Query{Client: allowlist.CanonicalAddr(client), Name: target.Name, Addr: target.Addr, Port: target.Port}
	if *sni != "" {
		if q.SNI, err = allowlist.NormalizeName(*sni); err != nil {
			fmt.Fprintf(stderr, "mdmproxy check: --sni: %v\n", err)
			return exitInvalid
		}
	}
	set, code, ok := loadSettings(*path, stderr)
	if !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), set.Timeouts.Connect)
	defer cancel()
	if *intercepted {
		if !q.Addr.IsValid() {
			fmt.Fprintf(stderr, "mdmproxy check: --intercepted: %s is not an address; an intercepted flow's original destination is ADDR:PORT\n", target.HostPort())
			return exitInvalid
		}
		return checkIntercepted(ctx, set, q, stdout)
	}

	fmt.Fprintf(stdout, "target:  %s\n", target.HostPort())
	fmt.Fprintf(stdout, "client:  %s\n", q.Client)
	if q.SNI != "" {
		fmt.Fprintf(stdout, "sni:     %s\n", q.SNI)
	}
	// The proxy's own admission step: the decision, then each address the name resolves to.
	adm := proxy.Admit(ctx, set, nil, nil, q, func(a netip.Addr, d allowlist.Decision) {
		fmt.Fprintf(stdout, "address: %s %s (%s)\n", a, d.Action, d.Reason)
	})
	if adm.Err != nil {
		fmt.Fprintf(stdout, "address: unresolved (%v); the verdict below does not depend on it\n", adm.Err)
	}
	if adm.Refused.IsValid() {
		q.Addr = adm.Refused
	}
	d := adm.Decision
	fmt.Fprintf(stdout, "action:  %s\n", d.Action)
	fmt.Fprintf(stdout, "rule:    %s\n", describeRule(d.Rule))
	if d.Rule != nil && d.Rule.For != allowlist.Everyone {
		fmt.Fprintf(stdout, "for:     %s\n", d.Rule.DescribeAudience())
	}
	fmt.Fprintf(stdout, "reason:  %s: %s\n", d.Reason, d.Explain(q))
	if !d.Allowed() {
		notForClient(stdout, set.Policy, q)
	}
	if set.Policy.Report() {
		e := adm.Enforce
		fmt.Fprintf(stdout, "enforce: %s (%s: %s)\n", e.Action, e.Reason, e.Explain(q))
		fmt.Fprintln(stdout, "mode:    report (the proxy carries out the action above and logs what enforce would do)")
		if d.Allowed() && !e.Allowed() {
			notForClient(stdout, set.Policy, q)
		}
		d = e // the exit status says what enforce would do
	}
	if d.Allowed() {
		return exitOK
	}
	return exitFailure
}

// notForClient names the rules that would allow q's target for other clients (a server or admin
// preset entry, or an admin rule with clients): for q's client they do not exist.
func notForClient(w io.Writer, pol *allowlist.Policy, q allowlist.Query) {
	rules := pol.Rules()
	for i := range rules {
		r := &rules[i]
		if r.For != allowlist.Everyone && !r.AppliesTo(q.Client) && r.Matches(q.Name, allowlist.CanonicalAddr(q.Addr), q.Port) {
			fmt.Fprintf(w, "not for: %s allows this for %s, which does not include %s\n", r.Name, r.DescribeAudience(), q.Client)
		}
	}
}

// checkIntercepted explains the decision on an intercepted flow to q's address, as the proxy's
// transparent listener makes it (proxy.Server.DecideIntercepted, the same resolver and hosts).
func checkIntercepted(ctx context.Context, set *proxy.Settings, q allowlist.Query, stdout io.Writer) int {
	fmt.Fprintf(stdout, "target:  %s (the original destination of an intercepted flow)\n", netip.AddrPortFrom(q.Addr, q.Port))
	fmt.Fprintf(stdout, "client:  %s\n", q.Client)
	if q.SNI != "" {
		fmt.Fprintf(stdout, "sni:     %s\n", q.SNI)
	} else {
		fmt.Fprintln(stdout, "sni:     none (CIDR rules only)")
	}
	in := (&proxy.Server{}).DecideIntercepted(ctx, set, q)
	d := in.Decision
	fmt.Fprintf(stdout, "action:  %s\n", d.Action)
	fmt.Fprintf(stdout, "rule:    %s\n", describeRule(d.Rule))
	if in.Msg != "" && !in.Reported() {
		fmt.Fprintf(stdout, "reason:  %s: %s\n", d.Reason, in.Msg)
	} else {
		fmt.Fprintf(stdout, "reason:  %s\n", d.Reason)
	}
	if set.Policy.Report() {
		e := in.Enforce
		fmt.Fprintf(stdout, "enforce: %s (%s)\n", e.Action, e.Reason)
		fmt.Fprintln(stdout, "mode:    report (the proxy carries out the action above and logs what enforce would do)")
	}
	if in.Enforce.Allowed() {
		return exitOK
	}
	return exitFailure
}
