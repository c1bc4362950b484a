package allowlist

// Enforced is what the proxy carries out for the decision d the policy gave q. In enforce mode
// that is d. In report mode a refusal by policy (Reason.Reportable: no rule, port, SNI, not
// TLS) is let through the way default_action allow would let it: as Allow, with the address
// check still made, so a destination address in deny_cidrs that no rule opens stays refused.
// The refused decision is what enforce would have done; events carry both.
func (p *Policy) Enforced(q Query, d Decision) Decision {
	if !p.report || d.Allowed() || !d.Reason.Reportable() {
		return d
	}
	if a := CanonicalAddr(q.Addr); a.IsValid() && p.addrs.denyBits(a) >= 0 && (d.Rule == nil || !p.ruleOpens(d.Rule, a)) {
		return Decision{Action: Deny, Rule: d.Rule, Reason: ReasonDeniedAddress}
	}
	return Decision{Action: Allow, Reason: d.Reason}
}
