package proxy

import (
	"context"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// Interception is the verdict on an intercepted flow (Server.DecideIntercepted).
type Interception struct {
	// Decision is what is carried out. A refusal is a Deny whose Reason says why; in report
	// mode a refusal by policy is let through as allow (allowlist.Policy.Enforced).
	Decision allowlist.Decision
	// Enforce is what enforce mode decides; it differs from Decision only in report mode.
	Enforce allowlist.Decision
	// Msg says in one line why enforce refuses the flow; "" when it does not.
	Msg string
}

// Reported reports whether report mode let through what enforce would have refused.
func (in Interception) Reported() bool { return in.Decision.Allowed() && !in.Enforce.Allowed() }

// DecideIntercepted applies the spec's rule for an intercepted flow: q holds the client, the
// original destination (Addr, Port) and the ClientHello's server name when there was one. The
// original address is allowed by a CIDR rule on its port (and an SNI must then be allowed by a
// domain rule, as for CONNECT); or by a domain rule allowing the SNI on that port, when the SNI
// resolves (set's hosts, then DNS through the answer cache) to addresses that include the
// original one, so that an allowed SNI can never carry a flow to an address of its choosing.
// Without an SNI only CIDR rules apply. The proxy and `mdmproxy check --intercepted` ask it;
// it counts the SNI resolution checks and their refusals in the server's metrics.
//
// It is not Admit: Admit resolves a CONNECT's name to find addresses to dial, whereas here the
// address is given and the name must vouch for it, and only that address is ever dialled.
func (s *Server) DecideIntercepted(ctx context.Context, set *Settings, q allowlist.Query) Interception {
	d, msg := s.decideIntercepted(ctx, set, q)
	in := Interception{Decision: d, Enforce: d, Msg: msg}
	if !d.Allowed() {
		in.Decision = set.Policy.Enforced(q, d)
	}
	return in
}

// decideIntercepted is DecideIntercepted in enforce mode; msg explains a refusal.
func (s *Server) decideIntercepted(ctx context.Context, set *Settings, q allowlist.Query) (allowlist.Decision, string) {
	d, vouch, msg := interceptRules(set.Policy, q)
	if !vouch {
		return d, msg
	}
	s.metrics.SNIResolveChecks.Add(1)
	ok, err := s.resolvesTo(ctx, set.Hosts, q.SNI, q.Addr)
	refuse := func(reason allowlist.Reason, msg string) (allowlist.Decision, string) {
		s.metrics.SNIResolveRefused.Add(1)
		return allowlist.Decision{Action: allowlist.Deny, Rule: d.Rule, Reason: reason}, msg
	}
	switch {
	case err != nil && isTimeout(err):
		return refuse(allowlist.ReasonResolveTimeout, err.Error())
	case err != nil:
		return refuse(allowlist.ReasonResolveFailed, err.Error())
	case !ok:
		return refuse(allowlist.ReasonSNIAddressMismatch, "TLS server name "+q.SNI+" does not resolve to the original destination "+q.Addr.String())
	}
	return d, ""
}

// interceptRules is the policy's part of the decision on an intercepted flow: the decision, and
// whether it holds only if the SNI resolves to the original address (vouch: a domain rule
// allowed the SNI, no CIDR rule the address). msg explains a refusal. It neither resolves nor
// counts, so a reload can decide open intercepted tunnels again with it (their SNI was found
// to resolve to their address when they were admitted; a reload changes the policy, not DNS).
func interceptRules(pol *allowlist.Policy, q allowlist.Query) (d allowlist.Decision, vouch bool, msg string) {
	byAddr := pol.Decide(q)
	if byAddr.Allowed() || q.SNI == "" {
		return byAddr, false, explainRefusal(byAddr, q)
	}
	qn := allowlist.Query{Client: q.Client, Name: q.SNI, Addr: q.Addr, Port: q.Port, SNI: q.SNI}
	byName := pol.Decide(qn)
	if byName.Reason != allowlist.ReasonRule {
		// Say what stopped the flow: deny_cidrs against the name's rule, a CIDR rule that does
		// not allow the SNI, deny_cidrs alone, or else that no domain rule allows the SNI.
		if byName.Reason != allowlist.ReasonDeniedAddress && (byAddr.Rule != nil || byAddr.Reason == allowlist.ReasonDeniedAddress) {
			return byAddr, false, byAddr.Explain(q)
		}
		return byName, false, byName.Explain(qn)
	}
	return byName, true, ""
}

// explainRefusal is d.Explain(q) for a refusal, "" otherwise.
func explainRefusal(d allowlist.Decision, q allowlist.Query) string {
	if d.Allowed() {
		return ""
	}
	return d.Explain(q)
}
