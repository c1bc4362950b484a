package proxy

import (
	"context"
	"net/netip"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// Admission is the outcome of the admission step every flow passes before anything is dialled:
// the client check, the decision on the target, and for a flow dialled directly the name
// resolved once and each address checked. CONNECT, plain HTTP and `mdmproxy check` all run it.
type Admission struct {
	// Decision is what is carried out: splice, upstream or allow, or deny. In report mode a
	// refusal by policy is let through as allow (allowlist.Policy.Enforced).
	Decision allowlist.Decision
	// Enforce is what enforce mode decides; it differs from Decision only in report mode.
	Enforce allowlist.Decision
	// Addrs are the addresses a direct flow may dial, allowed ones only, in answer order. An
	// upstream flow has none: the upstream resolves.
	Addrs []netip.Addr
	// Refused is the address whose refusal refused a name (the first answer), when that is why.
	Refused netip.Addr
	// Err is set when resolving failed; the flow cannot be carried out, whatever Decision says.
	Err error
	// Fail says how resolving failed: resolve_failed or resolve_timeout.
	Fail allowlist.Reason
}

// Admitted reports whether the flow may go on to its forwarder.
func (a *Admission) Admitted() bool { return a.Err == nil && a.Decision.Allowed() }

// Reported reports whether report mode let through what enforce would have refused.
func (a *Admission) Reported() bool { return a.Decision.Allowed() && !a.Enforce.Allowed() }

// ownAddress refuses an address that is one of mdmproxy's own listeners, in report mode too:
// dialling it is a loop, or a way in to the admin server, not a policy matter.
var ownAddress = allowlist.Decision{Action: allowlist.Deny, Reason: allowlist.ReasonOwnAddress}

// Admit runs the admission step for q (Name or Addr, Port, Client; no SNI yet) under set.
// lookup resolves names the static hosts do not hold (nil: DNS); ctx bounds resolving. own,
// when not nil, reports whether an address is one of mdmproxy's own listeners, which is never
// dialled. each, when not nil, is told the decision on every resolved address (for
// `mdmproxy check`).
func Admit(ctx context.Context, set *Settings, lookup LookupFunc, own func(netip.AddrPort) bool, q allowlist.Query, each func(netip.Addr, allowlist.Decision)) Admission {
	pol := set.Policy
	d := pol.Decide(q)
	a := Admission{Enforce: d, Decision: pol.Enforced(q, d)}
	if !a.Decision.Allowed() || a.Decision.Action == allowlist.Upstream {
		// Refused, or for the upstream to resolve: an IP literal was checked against
		// deny_cidrs by the decision itself, and a name is not resolved here.
		return a
	}
	isOwn := func(addr netip.Addr) bool { return own != nil && own(netip.AddrPortFrom(addr, q.Port)) }
	if q.Name == "" {
		if isOwn(q.Addr) {
			a.Decision, a.Enforce = ownAddress, ownAddress
			return a
		}
		a.Addrs = []netip.Addr{q.Addr}
		return a
	}
	addrs, err := Resolve(ctx, set.Hosts, lookup, q.Name)
	if err != nil {
		a.Err, a.Fail = err, allowlist.ReasonResolveFailed
		if isTimeout(err) {
			a.Fail = allowlist.ReasonResolveTimeout
		}
		return a
	}
	// The address checked is the address dialled: keep the answers the policy allows, in
	// answer order, and refuse only when none is allowed.
	var refused, refusedEnforce allowlist.Decision
	for _, addr := range addrs {
		q.Addr = addr
		da := pol.Decide(q)
		ea := pol.Enforced(q, da)
		if isOwn(addr) {
			da, ea = ownAddress, ownAddress
		}
		if each != nil {
			each(addr, ea)
		}
		if ea.Allowed() {
			a.Addrs = append(a.Addrs, addr)
		} else if !a.Refused.IsValid() {
			refused, refusedEnforce, a.Refused = ea, da, addr
		}
	}
	if len(a.Addrs) == 0 {
		a.Decision, a.Enforce = refused, refusedEnforce
		return a
	}
	a.Refused = netip.Addr{}
	return a
}
