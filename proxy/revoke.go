package proxy

import (
	"runtime"
	"sync/atomic"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// Reload revocation. A reload that installs a new policy decides every open tunnel again with
// the facts it was admitted on (client, name, dialled address, port, SNI: the query of its last
// decision) and ends each one the new policy refuses with reason policy_revoked, the way a
// firewall that re-matches its sessions cuts what a removed rule let through. A tunnel the new
// policy still allows is not touched at all. The check runs on the goroutine that called
// Update (a reload's), never on a pump's, and holds the tunnel registry's lock only to copy it.
//
// Tunnels carry the generation of the policy they were last decided by, not the policy itself,
// so long-lived push tunnels do not keep old policies in memory. A tunnel whose set-up began
// under the previous policy and registers after the scan checks itself (revokeLate).

// revokeState is the part of Server that revocation keeps.
type revokeState struct {
	policyGen atomic.Uint64 // generation of the installed policy; Update counts it up
	revokedN  atomic.Int64  // tunnels ended by reloads
}

// revoked is how many tunnels reloads have ended.
func (s *Server) revoked() int { return int(s.revokedN.Load()) }

// revokeYield: the scan lets other goroutines run after this many decisions (about 0.1 ms),
// as Compile does, so a reload with many open tunnels does not hold a processor for long.
const revokeYield = 512

// revoke decides the open tunnels again with pol (generation gen) and ends those it refuses.
// It returns how many it ended.
func (s *Server) revoke(pol *allowlist.Policy, gen uint64) int {
	s.mu.Lock()
	open := make([]*tunnel, 0, len(s.tunnels))
	for t := range s.tunnels {
		open = append(open, t)
	}
	s.mu.Unlock()
	n := 0
	for i, t := range open {
		if i%revokeYield == revokeYield-1 {
			runtime.Gosched()
		}
		if !t.recheck(pol, gen) {
			n++
		}
	}
	if n > 0 {
		s.Log.Info().Int("revoked", n).Int("open", len(open)-n).Msg("the new policy refuses open tunnels: they were ended (policy_revoked)")
	}
	return n
}

// recheck decides the tunnel again with pol, of generation gen, unless it already was; it ends
// the tunnel with policy_revoked when pol refuses it and reports whether it may go on.
// Intercepted flows are decided by the rules of transparent mode (interceptRules), without
// resolving their SNI again.
func (t *tunnel) recheck(pol *allowlist.Policy, gen uint64) bool {
	last := t.policyGen.Load()
	if last == gen || last == 0 {
		return true // decided by this policy already, or nothing to decide with
	}
	if t.endReason.Load() != nil {
		return true // ending already (an earlier reload may have revoked it): not counted again
	}
	q := t.query
	var d allowlist.Decision
	if t.facts.intercepted {
		d, _, _ = interceptRules(pol, q)
	} else {
		d = pol.Decide(q)
	}
	// A tunnel whose client's retry named another server was let through by report mode
	// only: any other policy ends it.
	if d := pol.Enforced(q, d); !d.Allowed() || t.needsHello(pol, d) || t.retryOther && !pol.Report() {
		if t.abort(allowlist.ReasonPolicyRevoked) {
			t.srv.revokedN.Add(1)
		}
		return false
	}
	t.policyGen.CompareAndSwap(last, gen)
	return true
}

// needsHello reports whether d's rule requires TLS (tls: required) of a tunnel whose first
// bytes were never checked as a ClientHello: spliced under tls: optional, or let through by
// report mode, which goes on letting it through.
func (t *tunnel) needsHello(pol *allowlist.Policy, d allowlist.Decision) bool {
	return !t.helloChecked && !pol.Report() && d.Action == allowlist.Splice && d.Rule != nil && d.Rule.TLS == allowlist.TLSRequired
}

// revokeLate checks a tunnel that registered after a reload's scan had copied the registry:
// its set-up decided it with the policy before. The common case is a comparison of two
// numbers.
func (t *tunnel) revokeLate() {
	set := t.srv.settings.Load()
	t.recheck(set.Policy, set.policyGen)
}

// decidedBy records what a tunnel was admitted with: the query, the policy generation, and
// whether its ClientHello was read and checked.
func (t *tunnel) decidedBy(q allowlist.Query, set *Settings, helloChecked bool) {
	t.query, t.helloChecked = q, helloChecked
	t.policyGen.Store(set.policyGen)
}
