package presets

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// deviceClient is in clients but in neither role.
var deviceClient = netip.MustParseAddr("127.0.0.2")

// entryQueries returns, for every entry of every preset, a query for each of its names (a name
// below each wildcard), the first and last address of each prefix, on the first and last port
// of each range, from each of clients.
func entryQueries(clients ...netip.Addr) []allowlist.Query {
	var qs []allowlist.Query
	for _, p := range All() {
		for _, e := range p.Entries {
			for _, s := range e.Ports {
				r, _ := allowlist.ParsePortRange(s)
				for _, port := range []uint16{r.Lo, r.Hi} {
					for _, c := range clients {
						for _, d := range e.Domains {
							name := strings.Replace(d, "*", "mdmproxy-probe", 1)
							qs = append(qs, allowlist.Query{Client: c, Name: name, Port: port, SNI: name})
						}
						for _, cidr := range e.CIDRs {
							pr := netip.MustParsePrefix(cidr)
							for _, a := range []netip.Addr{pr.Addr(), lastAddr(pr)} {
								qs = append(qs, allowlist.Query{Client: c, Addr: a, Port: port})
							}
						}
					}
				}
			}
		}
	}
	return qs
}

// lastAddr is the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// outcome is what a tunnel gets from a decision.
type outcome struct {
	action     allowlist.Action
	reason     allowlist.Reason
	rule       string
	persistent bool
	tls        allowlist.TLSMode
}

func outcomeOf(d allowlist.Decision) outcome {
	o := outcome{action: d.Action, reason: d.Reason, rule: d.RuleName()}
	if d.Rule != nil {
		o.persistent, o.tls = d.Rule.Persistent, d.Rule.TLS
	}
	return o
}

// TestOrderNeverMatters selects every preset (groups and legacy ones included) in two orders
// and requires the same decision, rule and flags for every entry's names, addresses and ports,
// for a client in both roles and for a device. It also compiles the presets' rules in reverse
// catalogue order by hand, past Rules' sorting: the flags must still agree, which holds only
// because the data never gives one destination and port two different persistent or tls.
func TestOrderNeverMatters(t *testing.T) {
	var names, members []string
	for _, p := range All() {
		names = append(names, p.Name)
		if !p.IsGroup() {
			members = append(members, p.Name)
		}
	}
	reversed := slices.Clone(names)
	slices.Reverse(reversed)
	forward, backward := compile(t, names, nil), compile(t, reversed, nil)

	slices.Reverse(members)
	var byHand []allowlist.Rule
	for _, m := range members {
		rs, err := Rules([]string{m}, nil)
		if err != nil {
			t.Fatal(err)
		}
		byHand = append(byHand, rs...)
	}
	unsorted := compileRules(t, byHand)

	qs := entryQueries(localClient, deviceClient)
	if len(qs) < 1000 {
		t.Fatalf("only %d queries: the catalogue did not load", len(qs))
	}
	spliced := 0
	for _, q := range qs {
		f, b, u := outcomeOf(forward.Decide(q)), outcomeOf(backward.Decide(q)), outcomeOf(unsorted.Decide(q))
		if f != b {
			t.Errorf("%+v: %+v with presets in catalogue order, %+v reversed", q, f, b)
		}
		if f.action != u.action || f.persistent != u.persistent || f.tls != u.tls {
			t.Errorf("%+v: %+v in catalogue order, %+v with the rules reversed by hand", q, f, u)
		}
		if f.action == allowlist.Splice {
			spliced++
		}
	}
	if spliced == 0 {
		t.Error("nothing was spliced: the test asked nothing meaningful")
	}
}

// TestPresetRoles: server and admin entries of the presets apply only to clients in roles.server
// and roles.admin; a device gets the device entries, including where they share a name.
func TestPresetRoles(t *testing.T) {
	p := compile(t, []string{"apple", "apple-push-provider", "jamf-pro", "zenworks"}, nil)
	for _, c := range []struct {
		target string
		server string // the rule for localClient (both roles)
		device string // the rule for deviceClient
	}{
		{"upload.appleschoolcontent.com:22", "apple-device-management/school-manager-sftp", ""},
		{"identity.apple.com:443", "apple-device-management/apns-certificate", ""},
		{"school.apple.com:80", "apple-device-management/school-business-manager-http", ""},
		{"mdmenrollment.apple.com:443", "apple-device-management/mdm-server", ""},
		{"api.push.apple.com:2197", "apple-push-provider/api", ""},
		{"api.push.apple.com:443", "apple-push-provider/api", "apple-push/courier"},
		{"17.249.1.1:443", "apple-push/apns-addresses", "apple-push/apns-addresses"}, // the same flags; the first in catalogue order
		{"17.1.2.3:2197", "apple-push-provider/apple-network", ""},
		{"apps.apple.com:443", "apple-device-management/app-store", "apple-device-management/app-store"},
		{"jamf-patch.jamfcloud.com:443", "jamf-pro/server-services", ""},
		{"euc1-jcds.services.jamfcloud.com:443", "jamf-pro/jamf-cloud", "jamf-pro/jamf-cloud"},
	} {
		tg, err := allowlist.ParseTarget(c.target)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []struct {
			client netip.Addr
			want   string
		}{{localClient, c.server}, {deviceClient, c.device}} {
			d := p.Decide(allowlist.Query{Client: k.client, Name: tg.Name, Addr: tg.Addr, Port: tg.Port})
			if d.RuleName() != k.want || (k.want == "") != (d.Action == allowlist.Deny) {
				t.Errorf("%s from %s: %s by %q (%s), want %q", c.target, k.client, d.Action, d.RuleName(), d.Reason, k.want)
			}
		}
	}
}
