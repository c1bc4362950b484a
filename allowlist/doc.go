// Package allowlist is mdmproxy's one decision function: which client may reach which
// destination, by name, address, port and TLS server name.
//
// # Using it
//
// Build a Policy once per configuration and ask it about every connection:
//
//	p, err := allowlist.Compile(allowlist.Spec{
//		Rules: []allowlist.Rule{
//			{Name: "apple-push/courier", Domains: []string{"*.push.apple.com"}, Ports: ports, Persistent: true},
//			{Name: "apple-push-provider/api", Domains: []string{"api.push.apple.com"}, Ports: ports, For: allowlist.ServerRole},
//			{Name: "lab", Domains: []string{"lab.example"}, Ports: ports, For: allowlist.ListedClients, Clients: lab},
//		},
//		Clients:   clients,                                  // who may use the proxy at all
//		Roles:     allowlist.Roles{Server: mdmServers},      // who the ServerRole and AdminRole rules are for
//		DenyCIDRs: allowlist.DefaultDenyCIDRs,
//	})
//	d := p.Decide(allowlist.Query{Client: c, Name: "courier.push.apple.com", Port: 5223})
//	if d.Action == allowlist.Splice { /* d.Rule governs the tunnel: its name, persistent, tls */ }
//
// Decide does not resolve names and does not allocate; the proxy asks again as it learns the
// resolved address and the ClientHello's server name. A rule exists only for the clients it is
// For: every client (the zero value), roles.server, roles.admin or its own Clients; for any
// other client Decide skips it, as if it were not configured. Among rules for the same name or
// prefix, the most specific pattern wins, then the first rule in Spec.Rules.
package allowlist
