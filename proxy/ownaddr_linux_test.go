package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// A CONNECT or a plain request is never dialled to one of mdmproxy's own listeners, even
// when the policy would allow the address (default_action allow, no deny_cidrs): it is
// refused by the admission step with own_address, as an intercepted flow is.
func TestOwnAddressRefused(t *testing.T) {
	hosts := map[string][]netip.Addr{"self.test": {netip.MustParseAddr("127.0.0.1")}}
	_, addr, rec := testProxy(t, nil, hosts, withPolicy(t, allowlist.Spec{DefaultAction: allowlist.Allow}))
	_, port, _ := net.SplitHostPort(addr)

	for _, target := range []string{addr, "self.test:" + port} {
		status, c := connectStatus(t, addr, target)
		if status != http.StatusForbidden {
			t.Errorf("CONNECT %s: status %d, want 403", target, status)
		}
		src := uint16(c.LocalAddr().(*net.TCPAddr).Port)
		ev := rec.wait(t, func(e events.Event) bool { return e.SourcePort == src && e.Action == events.ActionDeny })
		if ev.Reason != "own_address" || ev.DestIP != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("CONNECT %s: event %+v, want own_address", target, ev)
		}
	}

	resp, err := plainClient(addr).Get("http://self.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET http://self.test:%s/: status %d, want 403", port, resp.StatusCode)
	}
	ev := rec.wait(t, func(e events.Event) bool { return e.Method == "GET" && e.Action == events.ActionDeny })
	if ev.Reason != "own_address" {
		t.Errorf("GET: event %+v, want own_address", ev)
	}
}
