package presets

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// localClient is in roles.server and roles.admin, so every entry applies to it; other
// 127.0.0.0/8 clients are devices only.
var localClient = netip.MustParseAddr("127.0.0.1")

// compile builds the policy a configuration naming these presets gets: default deny, the
// default deny_cidrs, local clients, and localClient in both roles.
func compile(t testing.TB, names, disabled []string) *allowlist.Policy {
	t.Helper()
	rules, err := Rules(names, disabled)
	if err != nil {
		t.Fatal(err)
	}
	return compileRules(t, rules)
}

func compileRules(t testing.TB, rules []allowlist.Rule) *allowlist.Policy {
	t.Helper()
	local := []netip.Prefix{netip.PrefixFrom(localClient, 32)}
	p, err := allowlist.Compile(allowlist.Spec{
		Rules:     rules,
		Clients:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		DenyCIDRs: allowlist.DefaultDenyCIDRs,
		Roles:     allowlist.Roles{Server: local, Admin: local},
	})
	if err != nil {
		t.Fatalf("rules %v do not compile: %v", rules, err)
	}
	return p
}

// decide asks p about a CONNECT to target ("host:port"); for a name it also asks with the
// name as the ClientHello's SNI and requires the same answer.
func decide(t testing.TB, p *allowlist.Policy, target string) allowlist.Decision {
	t.Helper()
	tg, err := allowlist.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	q := allowlist.Query{Client: localClient, Name: tg.Name, Addr: tg.Addr, Port: tg.Port}
	d := p.Decide(q)
	if tg.Name != "" {
		q.SNI = tg.Name
		if ds := p.Decide(q); ds.Action != d.Action || ds.RuleName() != d.RuleName() {
			t.Errorf("%s: with SNI %s %s, without %s %s", target, ds.Action, ds.RuleName(), d.Action, d.RuleName())
		}
	}
	return d
}

// splice is the expected rule name; "" means the connection is refused.
type decisionCase struct {
	target string
	splice string
}

func checkDecisions(t *testing.T, names, disabled []string, cases []decisionCase) {
	t.Helper()
	p := compile(t, names, disabled)
	for _, c := range cases {
		d := decide(t, p, c.target)
		switch {
		case c.splice == "" && d.Action != allowlist.Deny:
			t.Errorf("%v: %s is %s by %s, want deny", names, c.target, d.Action, d.RuleName())
		case c.splice != "" && (d.Action != allowlist.Splice || d.RuleName() != c.splice):
			t.Errorf("%v: %s is %s (%s, rule %q), want splice by %s", names, c.target, d.Action, d.Reason, d.RuleName(), c.splice)
		}
	}
}

func TestDecideApple(t *testing.T) {
	checkDecisions(t, []string{"apple-push"}, nil, []decisionCase{
		{"7-courier.push.apple.com:5223", "apple-push/courier"},
		{"courier.push.apple.com:443", "apple-push/courier"},
		{"50-courier.push.apple.com:5223", "apple-push/courier"},
		{"COURIER.push.apple.com.:443", "apple-push/courier"},
		{"init-p01st.push.apple.com:80", "apple-push/http"},
		{"17.249.1.1:5223", "apple-push/apns-addresses"},
		{"17.57.146.20:443", "apple-push/apns-addresses"},
		{"[2620:149:a44::1]:5223", "apple-push/apns-addresses"},
		{"[2a01:b740:a42::17]:443", "apple-push/apns-addresses"},
		{"17.1.2.3:443", "apple-push/apple-network"},
		{"[::ffff:17.1.2.3]:5223", "apple-push/apple-network"},
		{"push.apple.com.attacker.net:443", ""},
		{"push.apple.com:5223", ""}, // "*." never matches the bare suffix
		{"evilpush.apple.com:5223", ""},
		{"gateway.push.apple.com:2195", ""},
		{"courier.push.apple.com:2197", ""},
		{"courier.push.apple.com:8443", ""},
		{"17.1.2.3:80", ""},
		{"18.0.0.1:5223", ""},
		{"[2620:149:a45::1]:5223", ""},
	})
	// Without the whole 17.0.0.0/8, only the ranges Apple lists for APNs remain.
	checkDecisions(t, []string{"apple-push"}, []string{"apple-push/apple-network"}, []decisionCase{
		{"17.249.1.1:443", "apple-push/apns-addresses"},
		{"17.188.20.1:5223", "apple-push/apns-addresses"},
		{"17.1.2.3:443", ""},
		{"7-courier.push.apple.com:5223", "apple-push/courier"},
	})
	checkDecisions(t, []string{"apple-push-provider"}, nil, []decisionCase{
		{"api.push.apple.com:443", "apple-push-provider/api"},
		{"api.push.apple.com:2197", "apple-push-provider/api"},
		{"api.sandbox.push.apple.com:2197", "apple-push-provider/api"},
		{"17.188.128.9:2197", "apple-push-provider/apns-addresses"},
		{"api.push.apple.com:2195", ""},
		{"gateway.push.apple.com:2195", ""},
	})
	checkDecisions(t, []string{"apple-push-legacy"}, nil, []decisionCase{
		{"gateway.push.apple.com:2195", "apple-push-legacy/gateway"},
		{"feedback.push.apple.com:2196", "apple-push-legacy/feedback"},
		{"17.1.2.3:2196", "apple-push-legacy/apple-network"},
		{"gateway.push.apple.com:2196", ""},
	})
	checkDecisions(t, []string{"apple-device-management"}, nil, []decisionCase{
		{"albert.apple.com:443", "apple-device-management/device-setup"},
		{"captive.apple.com:80", "apple-device-management/device-setup-http"},
		{"deviceenrollment.apple.com:443", "apple-device-management/enrollment"},
		{"iprofiles.apple.com:443", "apple-device-management/enrollment"},
		{"mdmenrollment.apple.com:443", "apple-device-management/mdm-server"},
		{"vpp.itunes.apple.com:443", "apple-device-management/mdm-server"},
		{"identity.apple.com:443", "apple-device-management/apns-certificate"},
		{"school.apple.com:443", "apple-device-management/school-business-manager"},
		{"upload.appleschoolcontent.com:22", "apple-device-management/school-manager-sftp"},
		{"cls-ingest.itunes.apple.com:443", "apple-device-management/classroom"},
		{"deviceservices-external.apple.com:443", "apple-device-management/mdm-server"},
		{"axm-servicediscovery.apple.com:443", "apple-device-management/enrollment"},
		// Audit A9/A10: App Store, in-house app validation and Apple Account sign-in.
		{"apps.apple.com:443", "apple-device-management/app-store"},
		{"api.apps.apple.com:443", "apple-device-management/app-store"},
		{"itunes.apple.com:443", "apple-device-management/app-store"},
		{"ppq.apple.com:443", "apple-device-management/app-store"},
		{"is1-ssl.mzstatic.com:443", "apple-device-management/app-store"},
		{"itunes.apple.com:80", "apple-device-management/app-store-http"},
		{"appleid.apple.com:443", "apple-device-management/apple-account"},
		{"gsa.apple.com:443", "apple-device-management/apple-account"},
		{"account.apple.com:443", "apple-device-management/apple-account"},
		{"www.apple.com:80", ""}, // Apple lists 80 only for the portals and the store
		{"anything.apple.com:443", ""},
		{"time.apple.com:123", ""}, // NTP is UDP: out of scope
		{"albert.apple.com:80", ""},
		{"apple.com.evil.net:443", ""},
	})
	checkDecisions(t, []string{"apple-software-update"}, nil, []decisionCase{
		{"swcdn.apple.com:443", "apple-software-update/updates"},
		{"mesu.apple.com:80", "apple-software-update/updates-http"},
		{"updates.cdn-apple.com:443", "apple-software-update/updates"},
		{"swcdn.apple.com.cdn.example:443", ""},
		// Audit A5-A8, A11.
		{"ig.apple.com:443", "apple-software-update/updates"},
		{"skl.apple.com:443", "apple-software-update/updates"},
		{"swdist.apple.com:443", "apple-software-update/updates"},
		{"swdownload.apple.com:443", "apple-software-update/updates"},
		{"swdownload.apple.com:80", "apple-software-update/updates-http"},
		{"configuration.apple.com:443", "apple-software-update/updates"},
		{"gsra.apple.com:443", "apple-software-update/updates"},
		{"gdmf-ados.apple.com:443", "apple-software-update/updates"},
		{"gs.apple.com:80", "apple-software-update/updates-http"},
		{"appldnld.apple.com:80", "apple-software-update/updates-http"},
		{"appldnld.apple.com:443", ""},
		{"swscan.apple.com:80", ""},
		{"updates.apple.com:443", ""},
		{"swcdn-ssl.apple.com:443", ""},
		{"lcdn-registration.apple.com:443", "apple-software-update/content-caching"},
		{"lcdn-locator.apple.com:443", "apple-software-update/content-caching"},
		{"serverstatus.apple.com:443", "apple-software-update/content-caching"},
		{"xp-cdn.apple.com:443", "apple-software-update/content-caching"},
		{"suconfig.apple.com:80", "apple-software-update/content-caching-http"},
	})
	checkDecisions(t, []string{"apple-certificates"}, nil, []decisionCase{
		{"ocsp.apple.com:80", "apple-certificates/apple-pki"},
		{"crl3.digicert.com:80", "apple-certificates/ca-revocation"},
		{"ocsp.apple.com:443", ""},
		// Audit A1-A4: the ports Apple lists.
		{"ocsp2.apple.com:443", "apple-certificates/apple-pki-https"},
		{"valid.apple.com:443", "apple-certificates/apple-pki-https"},
		{"certs.apple.com:443", "apple-certificates/apple-pki-https"},
		{"certs.apple.com:80", "apple-certificates/apple-pki"},
		{"ocsp2.apple.com:80", ""},
		{"valid.apple.com:80", ""},
		{"ocsp.digicert.cn:80", "apple-certificates/ca-revocation"},
	})
	checkDecisions(t, []string{"apple-business-essentials"}, nil, []decisionCase{
		{"axm-adm-mdm.apple.com:443", "apple-business-essentials/services"},
	})
	checkDecisions(t, []string{"apple"}, nil, []decisionCase{
		{"7-courier.push.apple.com:5223", "apple-push/courier"},
		{"albert.apple.com:443", "apple-device-management/device-setup"},
		{"ocsp.apple.com:80", "apple-certificates/apple-pki"},
		{"ocsp2.apple.com:443", "apple-certificates/apple-pki-https"},
		{"apps.apple.com:443", "apple-device-management/app-store"},
		{"gateway.push.apple.com:2195", ""},
		{"api.push.apple.com:2197", ""}, // provider ports are server-side, not in the device group
	})
}

func TestDecideGoogle(t *testing.T) {
	checkDecisions(t, []string{"google-fcm"}, nil, []decisionCase{
		{"mtalk.google.com:5228", "google-fcm/mtalk"},
		{"alt5-mtalk.google.com:5229", "google-fcm/mtalk"},
		{"alt8-mtalk.google.com:5230", "google-fcm/mtalk"},
		{"mtalk4.google.com:443", "google-fcm/mtalk"},
		{"firebaseinstallations.googleapis.com:443", "google-fcm/registration"},
		{"alt9-mtalk.google.com:5228", ""},
		{"mtalk.google.com:5231", ""},
		{"mtalk.google.com.attacker.net:5228", ""},
		{"142.250.0.188:5228", ""}, // Google publishes no FCM addresses
	})
	checkDecisions(t, []string{"google-fcm-server"}, nil, []decisionCase{
		{"fcm.googleapis.com:443", "google-fcm-server/send"},
		{"fcm.googleapis.com:5228", ""},
	})
	checkDecisions(t, []string{"google-fcm-xmpp-legacy"}, nil, []decisionCase{
		{"fcm-xmpp.googleapis.com:5235", "google-fcm-xmpp-legacy/xmpp"},
	})
	checkDecisions(t, []string{"android-enterprise"}, nil, []decisionCase{
		{"play.google.com:443", "android-enterprise/play"},
		{"googleusercontent.com:443", "android-enterprise/play"},
		{"sites.googleusercontent.com:443", ""}, // audit G7: Google lists the bare name only
		{"gstatic.com:443", "android-enterprise/play"},
		{"androidmanagement.googleapis.com:443", "android-enterprise/apis"},
		{"fcm.googleapis.com:443", "android-enterprise/fcm"}, // the exact name wins over *.googleapis.com
		{"fcm-xmpp.googleapis.com:5229", ""},                 // audit G1: shut down
		{"chromiumdash.appspot.com:443", "android-enterprise/chrome-updates"},
		{"omahaproxy.appspot.com:443", ""}, // audit G4: turned down
		{"accounts.google.com:443", "android-enterprise/accounts"},
		{"connectivitycheck.android.com:443", "android-enterprise/connectivity-check"},
		{"accounts.google.co.uk:443", ""}, // country domains are an admin rule
		{"googleapis.com:443", ""},
	})
	checkDecisions(t, []string{"chromeos-management"}, nil, []decisionCase{
		{"m.google.com:443", "chromeos-management/services"},
		{"edgedl.me.gvt1.com:443", "chromeos-management/services"},
		{"play.googleapis.com:80", "chromeos-management/connectivity-check-http"},
		{"play.googleapis.com:443", ""},
	})
	checkDecisions(t, []string{"google"}, nil, []decisionCase{
		{"alt5-mtalk.google.com:5229", "google-fcm/mtalk"},
		{"play.google.com:443", "android-enterprise/play"},
		{"tools.google.com:443", "chromeos-management/services"},
		{"fcm-xmpp.googleapis.com:5235", ""},
	})
}

func TestDecideVendors(t *testing.T) {
	checkDecisions(t, []string{"microsoft-intune"}, nil, []decisionCase{
		{"enterpriseenrollment.manage.microsoft.com:443", "microsoft-intune/service"},
		{"manage.microsoft.com:443", "microsoft-intune/service"},
		{"manage.microsoft.com:80", "microsoft-intune/http"},
		{"login.microsoftonline.com:443", "microsoft-intune/authentication"},
		{"13.107.219.10:443", "microsoft-intune/service-addresses"},
		{"13.107.219.10:80", ""},
		// Audit I1-I6.
		{"login.live.com:443", "microsoft-intune/microsoft-account"},
		{"account.live.com:443", "microsoft-intune/microsoft-account"},
		{"certauth.enterpriseregistration.windows.net:443", "microsoft-intune/authentication"},
		{"certauth.enterpriseregistration.windows.net:80", "microsoft-intune/http"},
		{"go.microsoft.com:443", "microsoft-intune/dependencies"},
		{"go.microsoft.com:80", "microsoft-intune/http"},
		{"config.edge.skype.com:443", "microsoft-intune/dependencies"},
		{"intunemaape10.weu.attest.azure.net:443", "microsoft-intune/attestation"},
		{"naprodimedatapri.azureedge.net:443", "microsoft-intune/content"},
		{"macsidecarprodeu.azureedge.net:443", "microsoft-intune/content"},
		{"imeswda-afd-primary.manage.microsoft.com:443", "microsoft-intune/service"},
		{"evil.azureedge.net:443", ""},
		{"104.46.162.97:443", "microsoft-intune/service-addresses"},
		{"[2620:1ec:4b::1]:443", "microsoft-intune/service-addresses"},
		{"ekop.intel.com:443", ""}, // Autopilot is a preset of its own
		{"manage.microsoft.com.evil.net:443", ""},
	})
	checkDecisions(t, []string{"microsoft-autopilot"}, nil, []decisionCase{
		{"ekop.intel.com:443", "microsoft-autopilot/tpm-attestation"},
		{"download.windowsupdate.com:80", "microsoft-autopilot/windows-update-http"},
		{"lgmsapeweu.blob.core.windows.net:443", "microsoft-autopilot/diagnostics-upload"},
		{"other.blob.core.windows.net:443", ""},
	})
	checkDecisions(t, []string{"jamf-pro"}, nil, []decisionCase{
		{"use1-jcds.services.jamfcloud.com:443", "jamf-pro/jamf-cloud"},
		// Audit J1: every Jamf Cloud region.
		{"euc1-jcds.services.jamfcloud.com:443", "jamf-pro/jamf-cloud"},
		{"euw2-jcdsdownloads.services.jamfcloud.com:443", "jamf-pro/jamf-cloud"},
		{"apse2-jcds.services.jamfcloud.com:443", "jamf-pro/jamf-cloud"},
		{"apne1-jcdsdownloads.services.jamfcloud.com:443", "jamf-pro/jamf-cloud"},
		{"api.push.apple.com:2197", "jamf-pro/apns-provider"},
		{"yourschool.jamfcloud.com:443", ""}, // the Jamf Pro server is an admin rule
	})
	checkDecisions(t, []string{"kandji"}, nil, []decisionCase{
		{"0123abcd.web-api.kandji.io:443", "kandji/tenant"},
		{"kandji-prd.s3.amazonaws.com:443", "kandji/library"},
		{"updater.iru.com:443", "kandji/iru"},
		{"acme.gateway.kandji.com:443", "kandji/iru"}, // audit K1
		{"another-bucket.s3.amazonaws.com:443", ""},
		{"kandji.io:443", ""},
	})
	checkDecisions(t, []string{"zenworks"}, nil, []decisionCase{
		{"api.push.apple.com:2197", "zenworks/apns-provider"},
		{"mdmenrollment.apple.com:443", "zenworks/apple-services"},
		{"fcm.googleapis.com:5228", "zenworks/fcm"},
		{"www.googleapis.com:443", "zenworks/android-enterprise"},
		{"gateway.push.apple.com:2195", ""},
		{"apps.apple.com:443", "zenworks/app-store"},
		{"anything.apple.com:443", ""}, // audit 3.1: not `*.apple.com`
	})
	checkDecisions(t, []string{"capainstaller"}, nil, []decisionCase{
		{"certservice.capainstaller.com:7000", "capainstaller/certservice"},
		{"download.capainstaller.com:80", "capainstaller/download"},
		{"download.capainstaller.com:443", ""},
	})
	checkDecisions(t, []string{"workspace-one-assist-us"}, nil, []decisionCase{
		{"rmsession03.awmdm.com:443", "workspace-one-assist-us/connection-proctor"},
		{"rm01.awmdm.com:443", "workspace-one-assist-us/portal"},
		{"3.224.230.18:443", "workspace-one-assist-us/connection-proctor"},
		{"52.207.131.208:443", "workspace-one-assist-us/portal"},
		{"fcm.googleapis.com:5228", "workspace-one-assist-us/fcm"},
		{"rmuksession01.awmdm.com:443", ""},
		{"rmsession03.awmdm.com:8443", ""},
		{"3.224.230.19:443", ""},
	})
	checkDecisions(t, []string{"workspace-one-assist-in"}, nil, []decisionCase{
		{"rminsession04.awmdm.com:443", "workspace-one-assist-in/connection-proctor"},
		{"15.207.210.57:443", "workspace-one-assist-in/connection-proctor"},
		{"rmsession03.awmdm.com:443", ""},
	})
}

// TestDecideEveryEntry asks, for every preset on its own, about each of its entries' domains
// (a name below each wildcard), prefixes and ports, and requires a splice by that entry.
func TestDecideEveryEntry(t *testing.T) {
	for _, p := range All() {
		if p.IsGroup() {
			continue
		}
		pol := compile(t, []string{p.Name}, nil)
		for _, e := range p.Entries {
			want := p.Name + "/" + e.Name
			for _, port := range e.Ports {
				r, _ := allowlist.ParsePortRange(port)
				var targets []string
				for _, d := range e.Domains {
					targets = append(targets, net.JoinHostPort(strings.Replace(d, "*", "mdmproxy-probe", 1), strconv.Itoa(int(r.Lo))))
				}
				for _, c := range e.CIDRs {
					targets = append(targets, netip.AddrPortFrom(netip.MustParsePrefix(c).Addr(), r.Hi).String())
				}
				for _, target := range targets {
					d := decide(t, pol, target)
					if d.Action != allowlist.Splice || d.RuleName() != want {
						t.Errorf("%s: %s is %s (%s, rule %q), want splice by %s", p.Name, target, d.Action, d.Reason, d.RuleName(), want)
						continue
					}
					if d.Rule.Persistent != e.Persistent || d.Rule.TLS.String() != tlsMode(e) {
						t.Errorf("%s: rule %s has persistent %v, tls %s; the data says %v, %s", target, want, d.Rule.Persistent, d.Rule.TLS, e.Persistent, tlsMode(e))
					}
				}
			}
		}
	}
}

// TestLegacyOffUnlessNamed: every preset that is not legacy, together, still refuses what
// only the legacy presets allow.
func TestLegacyOffUnlessNamed(t *testing.T) {
	var current []string
	for _, p := range All() {
		if !p.Legacy {
			current = append(current, p.Name)
		}
	}
	checkDecisions(t, current, nil, []decisionCase{
		{"gateway.push.apple.com:2195", ""},
		{"feedback.push.apple.com:2196", ""},
		{"17.1.2.3:2195", ""},
		{"fcm-xmpp.googleapis.com:5235", ""},
		{"push.apple.com.attacker.net:443", ""},
		{"7-courier.push.apple.com:5223", "apple-push/courier"},
		{"courier.push.apple.com:443", "apple-push/courier"},
		{"alt5-mtalk.google.com:5229", "google-fcm/mtalk"},
		{"rmsession03.awmdm.com:443", "workspace-one-assist-us/connection-proctor"},
	})
}
