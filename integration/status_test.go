package integration

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// statusJSON is /status.json as the spec names its fields.
type statusJSON struct {
	Push []struct {
		Rule    string `json:"rule"`
		Clients *int   `json:"clients"`
	} `json:"push"`
	Clients []struct {
		Address string `json:"address"`
		Tunnels []struct {
			Rule             string `json:"rule"`
			Destination      string `json:"destination"`
			AgeS             *int64 `json:"age_s"`
			SourceBytes      *int64 `json:"source_bytes"`
			DestinationBytes *int64 `json:"destination_bytes"`
		} `json:"tunnels"`
	} `json:"clients"`
	Refusals    []statusRefusal `json:"refusals"`
	RefusalsDay []statusRefusal `json:"refusals_day"`
	Rules       []struct {
		Rule string `json:"rule"`
		Hits int    `json:"hits"`
	} `json:"rules"`
	Policy struct {
		LoadedAt   time.Time `json:"loaded_at"`
		Hash       string    `json:"hash"`
		Rules      int       `json:"rules"`
		Presets    []string  `json:"presets"`
		LastReload *struct {
			At      time.Time `json:"at"`
			Trigger string    `json:"trigger"`
			Outcome string    `json:"outcome"`
		} `json:"last_reload"`
	} `json:"policy"`
}

type statusRefusal struct {
	Target     string `json:"target"`
	Reason     string `json:"reason"`
	Count      int    `json:"count"`
	Clients    int    `json:"clients"`
	Suggestion string `json:"suggestion"`
}

// pushClients are the loopback addresses the test's devices hold push tunnels from; refuser
// makes the refused attempts.
var (
	pushClients = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	refuser     = "127.0.0.5"
)

// TestStatusPage holds push tunnels from three loopback client addresses and makes refused
// attempts from a fourth, then reads /status.json field by field and has headless Chromium
// render / : the DOM shows the clients and the refusals, the strict CSP lets the page's own
// style through (no violation on the console), and a screenshot is taken.
func TestStatusPage(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	p := StartProxy(t, Config{Rules: []Rule{applePush(origin.Port)}, Hosts: loopbackHosts("courier.push.apple.com")})
	target := "courier.push.apple.com:" + strconv.Itoa(origin.Port)

	for _, src := range pushClients {
		r, c := connectFrom(t, src, p.Addr, target)
		if r.Status != 200 {
			t.Fatalf("CONNECT from %s: %s", src, r.Line)
		}
		c.SetDeadline(time.Time{})
		tc := tls.Client(c, clientTLS(t, "courier.push.apple.com"))
		mustRoundTrip(t, tc, []byte("push from "+src))
		p.WaitEvent(t, Match{SrcPort: r.SrcPort, Action: "splice"})
	}
	refusals := []struct {
		target string
		n      int
	}{{"blocked.example.com:443", 3}, {"courier.push.apple.com:8443", 1}}
	for _, r := range refusals {
		for range r.n {
			rep, c := connectFrom(t, refuser, p.Addr, r.target)
			c.Close()
			if rep.Status != 403 {
				t.Fatalf("CONNECT %s from %s: %q, want 403", r.target, refuser, rep.Line)
			}
			p.WaitEvent(t, Match{SrcPort: rep.SrcPort, Action: "deny"})
		}
	}

	st := readStatus(t, p)
	if len(st.Push) != 1 || st.Push[0].Rule != "apple-push" || st.Push[0].Clients == nil || *st.Push[0].Clients != 3 {
		t.Errorf("push = %s, want apple-push with 3 clients", mustJSON(st.Push))
	}
	if len(st.Clients) != 3 {
		t.Fatalf("clients = %s, want the 3 push clients", mustJSON(st.Clients))
	}
	for i, c := range st.Clients {
		if c.Address != pushClients[i] || len(c.Tunnels) != 1 {
			t.Errorf("client %d = %s, want %s with one tunnel", i, mustJSON(c), pushClients[i])
			continue
		}
		tn := c.Tunnels[0]
		if tn.Rule != "apple-push" || tn.Destination != target || tn.AgeS == nil || *tn.AgeS < 0 ||
			tn.SourceBytes == nil || *tn.SourceBytes == 0 || tn.DestinationBytes == nil || *tn.DestinationBytes == 0 {
			t.Errorf("tunnel of %s = %s, want rule apple-push to %s with an age and bytes both ways", c.Address, mustJSON(tn), target)
		}
	}
	wantRefusals := []statusRefusal{
		{Target: "blocked.example.com:443", Reason: "no_rule", Count: 3, Clients: 1, Suggestion: "rules:\n  - name: allow-blocked-example-com-443\n    domains: [\"blocked.example.com\"]\n    ports: [443]\n"},
		{Target: "courier.push.apple.com:8443", Reason: "port_not_allowed", Count: 1, Clients: 1, Suggestion: "rules:\n  - name: allow-courier-push-apple-com-8443\n    domains: [\"courier.push.apple.com\"]\n    ports: [8443]\n"},
	}
	for name, got := range map[string][]statusRefusal{"refusals": st.Refusals, "refusals_day": st.RefusalsDay} {
		if mustJSON(got) != mustJSON(wantRefusals) {
			t.Errorf("%s = %s\nwant %s", name, mustJSON(got), mustJSON(wantRefusals))
		}
	}
	if len(st.Rules) != 1 || st.Rules[0].Rule != "apple-push" || st.Rules[0].Hits != 3 {
		t.Errorf("rules = %s, want apple-push with 3 hits", mustJSON(st.Rules))
	}
	if st.Policy.Rules != 1 || len(st.Policy.Hash) != 16 || st.Policy.LoadedAt.IsZero() || time.Since(st.Policy.LoadedAt) > time.Hour ||
		st.Policy.Presets == nil || len(st.Policy.Presets) != 0 || st.Policy.LastReload != nil {
		t.Errorf("policy = %s, want 1 rule, a hash, the load time, no presets, no reload yet", mustJSON(st.Policy))
	}

	// The page, as a browser renders it.
	url := "http://" + p.AdminAddr + "/"
	dom, console := chromium(t, url, "--dump-dom")
	rows := regexp.MustCompile(`<tr class="tunnel"><td class="client">([^<]+)</td><td class="rule">([^<]+)</td><td class="dest">([^<]+)</td>`).FindAllStringSubmatch(dom, -1)
	if len(rows) != 3 {
		t.Fatalf("the page shows %d tunnel rows, want 3:\n%s", len(rows), dom)
	}
	for i, r := range rows {
		if r[1] != pushClients[i] || r[2] != "apple-push" || r[3] != target {
			t.Errorf("tunnel row %d = %v, want %s apple-push %s", i, r[1:], pushClients[i], target)
		}
	}
	if strings.Contains(dom, refuser) {
		t.Errorf("the refusing client %s is shown as a client", refuser)
	}
	refusalRow := regexp.MustCompile(`<tr class="refusal"><td class="target">([^<]+)</td><td class="reason">([^<]+)</td><td class="num count">(\d+)</td><td class="num tried">(\d+)</td>`)
	got := refusalRow.FindAllStringSubmatch(dom, -1)
	if len(got) != 4 { // two targets, in the hour's table and the day's
		t.Fatalf("the page shows %d refusal rows, want 4", len(got))
	}
	for i, r := range got[:2] {
		w := wantRefusals[i]
		if r[1] != w.Target || r[2] != w.Reason || r[3] != strconv.Itoa(w.Count) || r[4] != "1" {
			t.Errorf("refusal row %d = %v, want %s %s %d 1", i, r[1:], w.Target, w.Reason, w.Count)
		}
	}
	if !strings.Contains(dom, `domains: ["blocked.example.com"]`) {
		t.Error("the page does not show the suggested rule")
	}
	if strings.Contains(console, "Content Security Policy") || strings.Contains(console, "Refused to") {
		t.Errorf("Chromium reports a CSP violation:\n%s", console)
	}

	// The search narrows the table without any script.
	dom, _ = chromium(t, url+"?q=127.0.0.3", "--dump-dom")
	if rows := regexp.MustCompile(`<tr class="tunnel">`).FindAllString(dom, -1); len(rows) != 1 || !strings.Contains(dom, `<td class="client">127.0.0.3</td>`) {
		t.Errorf("searching 127.0.0.3 shows %d rows", len(rows))
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, url, "--window-size=1100,1500", "--hide-scrollbars", "--screenshot="+shot)
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10000 {
		t.Fatalf("screenshot %s: %v, %d bytes", shot, err, len(png))
	}
	if dir := os.Getenv("MDMPROXY_ARTEFACTS"); dir != "" {
		// make docs' screenshot: MDMPROXY_ARTEFACTS=$PWD/docs go test -run TestStatusPage ./integration/
		if err := os.WriteFile(filepath.Join(dir, "status.png"), png, 0o644); err != nil {
			t.Error(err)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestStatusPageReload: the policy facts of /status.json follow reloads, accepted and rejected.
func TestStatusPageReload(t *testing.T) {
	t.Parallel()
	cfg := Config{Rules: []Rule{applePush(5223)}}
	p := StartProxy(t, cfg)
	before := readStatus(t, p)
	if before.Policy.Rules != 1 || before.Policy.LastReload != nil {
		t.Fatalf("policy at start = %s", mustJSON(before.Policy))
	}

	cfg.Rules = append(cfg.Rules, Rule{Name: "jamf", Domains: []string{"*.jamfcloud.com"}, Ports: []int{443}})
	p.WriteConfig(t, cfg)
	p.Signal(t, syscall.SIGHUP)
	// The log line comes a moment before the page hears of the reload: poll the page.
	var after statusJSON
	waitFor(t, "the status page to show the reload", func() bool {
		after = readStatus(t, p)
		return after.Policy.LastReload != nil
	})
	if after.Policy.Rules != 2 || after.Policy.Hash == before.Policy.Hash || !after.Policy.LoadedAt.After(before.Policy.LoadedAt) ||
		after.Policy.LastReload == nil || after.Policy.LastReload.Outcome != "ok" {
		t.Errorf("policy after a reload = %s, want 2 rules, a new hash and load time, outcome ok", mustJSON(after.Policy))
	}

	p.WriteConfigRaw(t, []byte("rules: {}\n"))
	p.Signal(t, syscall.SIGHUP)
	var rejected statusJSON
	waitFor(t, "the status page to show the rejected reload", func() bool {
		rejected = readStatus(t, p)
		return rejected.Policy.LastReload != nil && rejected.Policy.LastReload.Outcome != "ok"
	})
	if rejected.Policy.Rules != 2 || rejected.Policy.Hash != after.Policy.Hash || rejected.Policy.LastReload == nil ||
		rejected.Policy.LastReload.Outcome != "rejected" {
		t.Errorf("policy after a rejected reload = %s, want the running policy kept and outcome rejected", mustJSON(rejected.Policy))
	}
}

// readStatus fetches and decodes /status.json.
func readStatus(t *testing.T, p *Proxy) statusJSON {
	t.Helper()
	code, body := p.adminGet(t, "/status.json")
	if code != 200 {
		t.Fatalf("GET /status.json: %d %s", code, body)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status.json: %v\n%s", err, body)
	}
	return st
}
