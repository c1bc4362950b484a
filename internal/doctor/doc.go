// Package doctor checks, from the proxy's own host, whether the destinations a policy allows can
// be reached at all: the name resolves, the port answers, and for TLS rules the certificate is
// issued for the name by a trusted root. It answers the school admin's question "what in our
// network breaks push?" before any device has to fail.
//
// Use it like this:
//
//	plan := doctor.NewPlan(policy.Rules())              // exact names and preset probe names, per port
//	c := doctor.Checker{Hosts: settings.Hosts, Timeout: 5 * time.Second}
//	report := doctor.NewReport(plan, c.Run(ctx, plan.Targets)) // bounded concurrency and total time
//	report.WriteText(os.Stdout)                         // or WriteJSON; a verdict per rule
//	if !report.OK() { ... }                             // exit status 1
//
// Each probe resolves the name (hosts, then DNS, as the proxy does), connects to the first
// address that answers, and for tls: required rules makes a TLS handshake with the name as SNI
// against the system's roots (Checker.Roots replaces them). Results are the codes of the
// Result* constants, with the time taken and a detail in plain words.
package doctor
