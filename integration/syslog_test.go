package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mdmproxy/mdmproxy/internal/testrsyslog"
)

// startProxyWithLog starts the proxy on c with the log section replaced by log.
func startProxyWithLog(t *testing.T, c Config, log map[string]any) *Proxy {
	t.Helper()
	dir := t.TempDir()
	p := &Proxy{Dir: dir, ConfigPath: filepath.Join(dir, "config.yaml"), EventsPath: filepath.Join(dir, "events.json")}
	var m map[string]any
	if err := yaml.Unmarshal(renderConfig(c, p.EventsPath), &m); err != nil {
		t.Fatal(err)
	}
	m["log"] = log
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p.WriteConfigRaw(t, b)
	p.start(t, "serve", "--config", p.ConfigPath)
	return p
}

// denyUntil makes refused CONNECTs, 20 ms apart, until cond holds (at most 1000, waitLimit).
// The pause leaves the output's back-off time to find the collector again.
func denyUntil(t *testing.T, p *Proxy, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		expectRefusal(t, p.Addr, "denied.example:443", http.StatusForbidden)
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("refusals for %v and still not: %s", waitLimit, what)
}

// TestSyslogCollectorOutage: with a real rsyslog as the collector, killed mid-run: tunnels go
// on, the syslog output's drop counter rises while the file output beside it keeps every
// event, and once rsyslog is back events flow again, led by a report of how many were lost.
func TestSyslogCollectorOutage(t *testing.T) {
	t.Parallel()
	rs := testrsyslog.Start(t)
	origin := startTLSEchoOrigin(t)
	target := fmt.Sprintf("courier.push.apple.com:%d", origin.Port)
	syslogOut := "syslog+tcp://" + rs.TCPAddr
	p := startProxyWithLog(t, Config{Rules: []Rule{applePush(origin.Port)}, Hosts: loopbackHosts("courier.push.apple.com")},
		map[string]any{"level": "info", "outputs": []any{
			map[string]any{"format": "json", "output": "file:" + filepath.Join(t.TempDir(), "events.json")},
			map[string]any{"format": "cef", "output": syslogOut},
		}})
	dropped := func() float64 { return p.Metric(t, `mdmproxy_event_output_dropped_total{output="`+syslogOut+`"}`) }
	received := func(substr string) int {
		n := 0
		for _, m := range rs.Messages(t) {
			if m.Version == "1" && m.AppName == "mdmproxy" && strings.Contains(m.Msg, substr) {
				n++
			}
		}
		return n
	}

	// The output connects in the background: refusals reach rsyslog once it has.
	denyUntil(t, p, "a refusal at rsyslog", func() bool { return received("act=deny") > 0 })

	rs.Kill(t)
	before := dropped()
	for i := 0; i < 3; i++ {
		tc, _ := mustDialTLS(t, p.Addr, target, clientTLS(t, "courier.push.apple.com"))
		mustRoundTrip(t, tc, []byte("still tunnelling"))
		tc.Close()
	}
	denyUntil(t, p, "drops counted while rsyslog is down", func() bool { return dropped() > before })

	rs.Restart(t)
	denyUntil(t, p, "refusals at rsyslog again, after a report of the drops", func() bool { return received("act=dropped") > 0 })
	var report string
	for _, m := range rs.Messages(t) {
		if strings.Contains(m.Msg, "act=dropped") {
			report = m.Msg
		}
	}
	_, ext, err := parseCEFForTest(report)
	if err != nil || ext["cn1Label"] != "dropped" || ext["cn1"] == "" || ext["cn1"] == "0" {
		t.Errorf("report %q (%v): want cn1Label=dropped and the count", report, err)
	}
	tc, _ := mustDialTLS(t, p.Addr, target, clientTLS(t, "courier.push.apple.com"))
	mustRoundTrip(t, tc, []byte("after the outage"))
}

// parseCEFForTest splits a CEF line's extension into keys and values (values here hold no
// escapes: the report's are numbers and fixed words).
func parseCEFForTest(line string) ([]string, map[string]string, error) {
	parts := strings.SplitN(line, "|", 8)
	if len(parts) != 8 || parts[0] != "CEF:0" {
		return nil, nil, fmt.Errorf("not CEF:0 with seven header fields")
	}
	ext := map[string]string{}
	for _, kv := range strings.Split(parts[7], " ") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, nil, fmt.Errorf("extension item %q", kv)
		}
		ext[k] = v
	}
	return parts[:7], ext, nil
}

// TestSIGHUPReopensEventFile: logrotate moves the event file and sends SIGHUP; mdmproxy
// writes the next events to a new file at the configured path, none to the moved one.
func TestSIGHUPReopensEventFile(t *testing.T) {
	t.Parallel()
	p := StartProxy(t, Config{})
	before := expectRefusal(t, p.Addr, "denied.example:443", http.StatusForbidden)
	p.WaitEvent(t, Match{SrcPort: before.SrcPort})

	moved := p.EventsPath + ".1"
	if err := os.Rename(p.EventsPath, moved); err != nil {
		t.Fatal(err)
	}
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "the reload that follows the reopen", 1, func(l map[string]any) bool {
		return l["trigger"] == "SIGHUP" && l["message"] == "configuration reloaded"
	})
	after := expectRefusal(t, p.Addr, "denied.example:443", http.StatusForbidden)
	p.WaitEvent(t, Match{SrcPort: after.SrcPort})
	if evs := p.Events(t); len(evs) != 1 || evs[0].Source.Port != after.SrcPort {
		t.Errorf("the new file holds %d events, want only the one after SIGHUP", len(evs))
	}
	old, err := os.ReadFile(moved)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(old), "\n"); n != 1 {
		t.Errorf("the moved file holds %d events, want the one before SIGHUP:\n%s", n, old)
	}
}

// TestAggregateDenialFlood: with log.aggregate, a device hammering one refused target yields
// one event with the count and the first and last time.
func TestAggregateDenialFlood(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	events := filepath.Join(dir, "flood.json")
	p := startProxyWithLog(t, Config{}, map[string]any{"level": "info", "aggregate": "5s",
		"outputs": []any{map[string]any{"format": "json", "output": "file:" + events}}})
	p.EventsPath = events
	const n = 20
	for range n {
		expectRefusal(t, p.Addr, "flood.example:443", http.StatusForbidden)
	}
	e := p.WaitEvent(t, Match{Action: "deny", Domain: "flood.example"})
	if !strings.Contains(e.Raw, fmt.Sprintf(`"aggregate":{"count":%d,"first":`, n)) {
		t.Errorf("want one event counting %d denials: %s", n, e.Raw)
	}
	if got := len(p.FindEvents(t, Match{Action: "deny"})); got != 1 {
		t.Errorf("%d deny events, want 1", got)
	}
}
