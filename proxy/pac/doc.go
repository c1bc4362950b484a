// Package pac writes the proxy auto-config (PAC) file that tells devices to send their MDM
// traffic to mdmproxy, from the same compiled policy the proxy decides with, and serves it.
//
// Generate once per policy, then render for the address devices reach the proxy at:
//
//	f, err := pac.Generate(pac.Options{Policy: pol, Direct: cfg.PAC.Direct})
//	s := f.Script("mdmproxy.school.lan:3128") // s.Bytes() is the file, s.ETag its entity tag
//
// The generated FindProxyForURL lower-cases the host and strips one trailing dot; plain host
// names and Options.Direct go DIRECT; MDM destinations (every rule's exact names by equality,
// its "*." wildcards as dnsDomainIs with the leading dot, its CIDRs for IP-literal hosts only)
// go where Options.MDM says; the rest where Options.Rest says. It never resolves a name: no
// dnsResolve, no isInNet on a name (each is a DNS query per request in the browser). Long
// name lists become lookup tables so that a policy of many thousands of domains stays small
// and is evaluated in a few label lookups per request.
//
// Handler serves the file at /proxy.pac and /wpad.dat.
package pac
