package integration

import (
	"strconv"
	"strings"
	"testing"
)

// TestPACChromium: a real browser configured with nothing but the PAC URL routes by it. The
// MDM page's name resolves only in the proxy (its hosts list), so the page loads only if
// Chromium sent it through mdmproxy as the PAC says; the other page's name resolves only in
// Chromium (--host-resolver-rules), and the proxy has no rule for it, so it loads only if
// Chromium went DIRECT as the PAC says.
func TestPACChromium(t *testing.T) {
	t.Parallel()
	mdmPage := startHTTPSOrigin(t, "page routed by the PAC through mdmproxy")
	directPage := startHTTPSOrigin(t, "page the PAC sends direct")
	p := StartProxy(t, Config{
		Rules: []Rule{{Name: "mdm-test", Domains: []string{"*.mdm.test"}, CIDRs: []string{"127.0.0.1/32"}, Ports: []int{mdmPage.Port}}},
		Hosts: loopbackHosts("page.mdm.test"),
		PAC:   map[string]any{"rest": "direct"},
	})
	pacURL := "--proxy-pac-url=http://" + p.Addr + "/proxy.pac"
	// The test certificate's CA is not in Chromium's store; what is tested here is the route.
	common := []string{pacURL, "--ignore-certificate-errors", "--dump-dom"}

	dom, stderr := chromium(t, "https://page.mdm.test:"+strconv.Itoa(mdmPage.Port)+"/",
		append(common, "--host-resolver-rules=MAP direct.mdm-pac.example 127.0.0.1")...)
	if !strings.Contains(dom, "page routed by the PAC through mdmproxy") {
		t.Errorf("the MDM page did not load through the proxy:\n%s\n%s", dom, stderr)
	}
	checkSplice(t, p.WaitEvent(t, Match{Action: "splice", Domain: "page.mdm.test"}), "mdm-test", "page.mdm.test", mdmPage.Port)

	before := directPage.Accepted.Load()
	dom, stderr = chromium(t, "https://direct.mdm-pac.example:"+strconv.Itoa(directPage.Port)+"/",
		append(common, "--host-resolver-rules=MAP direct.mdm-pac.example 127.0.0.1")...)
	if !strings.Contains(dom, "page the PAC sends direct") || directPage.Accepted.Load() == before {
		t.Errorf("the direct page did not load directly:\n%s\n%s", dom, stderr)
	}
	if evs := p.FindEvents(t, Match{Domain: "direct.mdm-pac.example"}); len(evs) != 0 {
		t.Errorf("the direct page went through the proxy: %+v", evs)
	}
}

// TestPACWPADChromium: WPAD by DNS. Chromium told only to auto-detect looks up the name wpad
// (mapped to pac.listen), fetches /wpad.dat from it, and loads the MDM page through the proxy
// the file names (pac.proxy).
func TestPACWPADChromium(t *testing.T) {
	t.Parallel()
	mdmPage := startHTTPSOrigin(t, "page found by WPAD")
	cfg := Config{
		Rules: []Rule{{Name: "mdm-test", Domains: []string{"*.mdm.test"}, CIDRs: []string{"127.0.0.1/32"}, Ports: []int{mdmPage.Port}}},
		Hosts: loopbackHosts("page.mdm.test"),
		PAC:   map[string]any{"rest": "direct", "listen": "127.0.0.1:0"},
	}
	p := StartProxy(t, cfg)
	pacAddr := ""
	for _, l := range p.LogLines() {
		if l["message"] == "mdmproxy started" {
			pacAddr, _ = l["pac_listen"].(string)
		}
	}
	// The proxy's port is known now: name it in pac.proxy, as an admin serving WPAD would.
	cfg.PAC["proxy"] = p.Addr
	p.WriteConfig(t, cfg)
	p.WaitLog(t, "configuration reloaded", 1, func(l map[string]any) bool { return l["message"] == "configuration reloaded" })

	dom, stderr := chromium(t, "https://page.mdm.test:"+strconv.Itoa(mdmPage.Port)+"/",
		"--proxy-auto-detect", "--host-resolver-rules=MAP wpad "+pacAddr, "--ignore-certificate-errors", "--dump-dom")
	if !strings.Contains(dom, "page found by WPAD") {
		t.Errorf("the MDM page did not load through the proxy found by WPAD:\n%s\n%s", dom, stderr)
	}
	checkSplice(t, p.WaitEvent(t, Match{Action: "splice", Domain: "page.mdm.test"}), "mdm-test", "page.mdm.test", mdmPage.Port)
}
