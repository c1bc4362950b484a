package integration

import (
	"crypto/tls"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestFiftyReloadsUnderTraffic: 50 reloads (SIGHUP) that add and remove a rule while push
// tunnels stay open and new tunnels are made all along: no open tunnel is dropped, no new one
// fails, each policy is in force after its reload (the added rule's name is allowed, then
// refused), and a rejected file in the middle is counted. Then a reload that takes a port out
// of a rule ends exactly the open tunnels on that port, each with a policy_revoked end event.
func TestFiftyReloadsUnderTraffic(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	other := startTLSEchoOrigin(t)
	port, otherPort := strconv.Itoa(origin.Port), strconv.Itoa(other.Port)
	hosts := loopbackHosts("courier.push.apple.com", "mtalk.google.com", "lab.mdm.test")
	fcm := Rule{Name: "google-fcm", Domains: []string{"mtalk.google.com"}, CIDRs: []string{"127.0.0.1/32"},
		Ports: []int{origin.Port, other.Port}, Persistent: true}
	lab := Rule{Name: "lab", Domains: []string{"lab.mdm.test"}, CIDRs: []string{"127.0.0.1/32"}, Ports: []int{origin.Port}}
	base := Config{Rules: []Rule{applePush(origin.Port), fcm}, Hosts: hosts}
	withLab := Config{Rules: []Rule{applePush(origin.Port), fcm, lab}, Hosts: hosts}
	p := StartProxy(t, base)

	dial := func(sni, port string) (*tls.Conn, *proxyConn, error) {
		return dialTLS(p.Addr, sni+":"+port, clientTLS(t, sni))
	}
	type open struct {
		tc *tls.Conn
		pc *proxyConn
	}
	var pushes []open
	for range 10 {
		tc, pc := mustDialTLS(t, p.Addr, "courier.push.apple.com:"+port, clientTLS(t, "courier.push.apple.com"))
		mustRoundTrip(t, tc, []byte("push"))
		pushes = append(pushes, open{tc, pc})
	}

	// New tunnels all along, until the reloads are done (bounded by count as well).
	stop := make(chan struct{})
	var made, failed atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tc, pc, err := dial("courier.push.apple.com", port)
			if err == nil {
				err = roundTrip(tc, []byte("new"))
				closeTLSCleanly(tc, pc)
			}
			if err != nil {
				failed.Add(1)
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
				continue
			}
			made.Add(1)
		}
	}()

	sighup := func(msg string) func(map[string]any) bool {
		return func(l map[string]any) bool { return l["message"] == msg && l["trigger"] == "SIGHUP" }
	}
	const reloaded, rejected = "configuration reloaded", "reload rejected; the running configuration stays"
	for i := 1; i <= 50; i++ {
		cfg := base
		if i%2 == 1 {
			cfg = withLab
		}
		p.WriteConfig(t, cfg)
		p.Signal(t, syscall.SIGHUP)
		p.WaitLog(t, "reload "+strconv.Itoa(i), i, sighup(reloaded))
		// The policy of this reload is the one in force.
		if tc, pc, err := dial("lab.mdm.test", port); (err == nil) != (i%2 == 1) {
			t.Fatalf("reload %d: lab.mdm.test allowed %v, want %v (%v)", i, err == nil, i%2 == 1, err)
		} else if err == nil {
			closeTLSCleanly(tc, pc)
		}
		for _, o := range pushes {
			mustRoundTrip(t, o.tc, []byte("through reload "+strconv.Itoa(i)))
		}
		if i == 25 {
			p.WriteConfigRaw(t, []byte("rules: [{name: broken}]\n"))
			p.Signal(t, syscall.SIGHUP)
			p.WaitLog(t, "the rejected reload", 1, sighup(rejected))
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() > 0 || made.Load() == 0 {
		t.Fatalf("new tunnels during the reloads: %d made, %d failed (first: %v)", made.Load(), failed.Load(), firstErr)
	}
	for _, o := range pushes {
		if n := len(p.FindEvents(t, Match{SrcPort: o.pc.SrcPort(), Action: "end"})); n != 0 {
			t.Fatalf("a push tunnel ended during the reloads")
		}
	}
	fams := p.scrape(t)
	wantSample(t, fams, "mdmproxy_reloads_total", eq(float64(p.CountLog(logMessage(rejected)))), "the rejected reloads logged", "outcome", "failure")
	wantSample(t, fams, "mdmproxy_reloads_total", atLeast(1), "at least one", "outcome", "failure")
	wantSample(t, fams, "mdmproxy_tunnel_ends_total", eq(0), "no revocation yet", "reason", "policy_revoked")

	// Now FCM tunnels on both of its ports; the reload takes otherPort out of its rule.
	var keep, cut []open
	for range 3 {
		tc, pc := mustDialTLS(t, p.Addr, "mtalk.google.com:"+port, clientTLS(t, "mtalk.google.com"))
		mustRoundTrip(t, tc, []byte("fcm"))
		keep = append(keep, open{tc, pc})
		tc, pc = mustDialTLS(t, p.Addr, "mtalk.google.com:"+otherPort, clientTLS(t, "mtalk.google.com"))
		mustRoundTrip(t, tc, []byte("fcm"))
		cut = append(cut, open{tc, pc})
	}
	narrowed := fcm
	narrowed.Ports = []int{origin.Port}
	p.WriteConfig(t, Config{Rules: []Rule{applePush(origin.Port), narrowed}, Hosts: hosts})
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "the narrowing reload", 51, sighup(reloaded))
	for _, o := range cut {
		end := p.WaitEvent(t, Match{SrcPort: o.pc.SrcPort(), Action: "end"})
		checkEnd(t, end, "google-fcm", "policy_revoked")
		expectClosed(t, o.pc)
	}
	for _, o := range append(keep, pushes...) {
		mustRoundTrip(t, o.tc, []byte("after the narrowing reload"))
	}
	revoked := p.FindEvents(t, Match{Action: "end", Reason: "policy_revoked"})
	if len(revoked) != len(cut) {
		t.Errorf("%d tunnels ended policy_revoked, want exactly the %d on the removed port", len(revoked), len(cut))
	}
	waitFor(t, "the revocations in /metrics", func() bool {
		v, _ := sample(p.scrape(t), "mdmproxy_tunnel_ends_total", "reason", "policy_revoked")
		return v == float64(len(cut))
	})
}
