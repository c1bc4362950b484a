package integration

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape parses /metrics with Prometheus' own text parser.
func (p *Proxy) scrape(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := p.adminGet(t, "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// sample returns the value of the series name{labels} (labels as name=value pairs; the
// series may have more), and whether it exists.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func wantSample(t *testing.T, fams map[string]*dto.MetricFamily, name string, ok func(float64) bool, what string, labels ...string) {
	t.Helper()
	v, found := sample(fams, name, labels...)
	if !found {
		t.Errorf("/metrics has no %s%v", name, labels)
		return
	}
	if !ok(v) {
		t.Errorf("%s%v = %v, want %s", name, labels, v, what)
	}
}

func eq(n float64) func(float64) bool      { return func(v float64) bool { return v == n } }
func atLeast(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }

// TestMetricsAfterTraffic: after real tunnels, a refusal and reloads, /metrics parses with the
// Prometheus text parser and has every series the spec lists, bytes are counted while a tunnel
// is still open, the first release's series are still there, and no label holds an address.
func TestMetricsAfterTraffic(t *testing.T) {
	t.Parallel()
	origin := startTLSEchoOrigin(t)
	port := strconv.Itoa(origin.Port)
	cfg := Config{Rules: []Rule{applePush(origin.Port)}, Hosts: loopbackHosts("courier.push.apple.com")}
	p := StartProxy(t, cfg)
	first := p.scrape(t)
	wantSample(t, first, "mdmproxy_reloads_total", eq(0), "0 before any reload", "outcome", "failure")
	hash1 := policyHash(t, first)

	tc, pc := mustDialTLS(t, p.Addr, "courier.push.apple.com:"+port, clientTLS(t, "courier.push.apple.com"))
	msg := randomBytes(100_000)
	mustRoundTrip(t, tc, msg)
	// While the tunnel is open: open by rule, and the bytes already counted (TLS adds records).
	open := p.scrape(t)
	wantSample(t, open, "mdmproxy_rule_tunnels_open", eq(1), "1", "rule", "apple-push")
	wantSample(t, open, "mdmproxy_tunnel_bytes_total", atLeast(float64(len(msg))), "the bytes sent so far", "rule", "apple-push", "direction", "source")
	wantSample(t, open, "mdmproxy_tunnel_bytes_total", atLeast(float64(len(msg))), "the bytes echoed so far", "rule", "apple-push", "direction", "destination")
	wantSample(t, open, "mdmproxy_tunnel_client_bytes_total", eq(0), "0 (counted at the end)")
	if err := closeTLSCleanly(tc, pc); err != nil {
		t.Fatal(err)
	}
	p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"})
	r := expectRefusal(t, p.Addr, "example.com:443", 403)
	p.WaitEvent(t, Match{SrcPort: r.SrcPort})

	// A valid reload that changes the policy, then a rejected one.
	cfg.Rules[0].Ports = append(cfg.Rules[0].Ports, 5223)
	p.WriteConfig(t, cfg)
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "the reload", 1, logMessage("configuration reloaded"))
	p.WriteConfigRaw(t, []byte("rules: {}\n"))
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "the rejected reload", 1, logMessage("reload rejected; the running configuration stays"))

	fams := p.scrape(t)
	wantSample(t, fams, "mdmproxy_decisions_total", eq(1), "1 splice", "action", "splice", "rule", "apple-push")
	wantSample(t, fams, "mdmproxy_decisions_total", eq(1), "1 refusal", "action", "deny", "rule", "", "reason", "no_rule")
	wantSample(t, fams, "mdmproxy_rule_tunnels_open", eq(0), "0 after the end", "rule", "apple-push")
	wantSample(t, fams, "mdmproxy_tunnel_ends_total", eq(1), "1", "reason", "eof")
	wantSample(t, fams, "mdmproxy_tunnel_duration_seconds", eq(1), "1 observation")
	wantSample(t, fams, "mdmproxy_clienthello_duration_seconds", eq(1), "1 observation")
	wantSample(t, fams, "mdmproxy_dial_duration_seconds", eq(1), "1 observation")
	wantSample(t, fams, "mdmproxy_reloads_total", eq(1), "1", "outcome", "success")
	wantSample(t, fams, "mdmproxy_reloads_total", eq(1), "1", "outcome", "failure")
	wantSample(t, fams, "mdmproxy_policy_rules", eq(1), "1 rule")
	wantSample(t, fams, "mdmproxy_policy_loaded_timestamp_seconds", atLeast(1e9), "a Unix time")
	wantSample(t, fams, "mdmproxy_event_output_written_total", atLeast(3), "the decision and end events", "output", "file:"+p.EventsPath)
	wantSample(t, fams, "mdmproxy_event_output_dropped_total", eq(0), "0", "output", "file:"+p.EventsPath)
	wantSample(t, fams, "mdmproxy_event_output_queued", atLeast(0), "a gauge", "output", "file:"+p.EventsPath)
	if hash2 := policyHash(t, fams); hash2 == hash1 {
		t.Errorf("the policy hash %s did not change with the policy", hash1)
	}
	// The first release's series keep their names and meaning.
	wantSample(t, fams, "mdmproxy_connections_total", eq(2), "2")
	wantSample(t, fams, "mdmproxy_tunnels_spliced_total", eq(1), "1")
	wantSample(t, fams, "mdmproxy_denied_total", eq(1), "1")
	wantSample(t, fams, "mdmproxy_failed_total", eq(0), "0")
	wantSample(t, fams, "mdmproxy_tunnels_open", eq(0), "0")
	wantSample(t, fams, "mdmproxy_tunnel_client_bytes_total", atLeast(float64(len(msg))), "the tunnel's bytes")
	wantSample(t, fams, "mdmproxy_tunnel_destination_bytes_total", atLeast(float64(len(msg))), "the tunnel's bytes")
	wantSample(t, fams, "mdmproxy_events_dropped_total", eq(0), "0")
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if fams[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	noAddressLabels(t, fams)
	checkDashboard(t, fams)
}

func policyHash(t *testing.T, fams map[string]*dto.MetricFamily) string {
	t.Helper()
	f := fams["mdmproxy_policy_info"]
	if f == nil || len(f.Metric) != 1 || len(f.Metric[0].Label) != 1 || f.Metric[0].Label[0].GetName() != "hash" {
		t.Fatalf("mdmproxy_policy_info: want one series with a hash label: %v", f)
	}
	return f.Metric[0].Label[0].GetValue()
}

// noAddressLabels fails when any label value is an IP address or address:port: client
// addresses are never labels.
func noAddressLabels(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				v := l.GetValue()
				if _, err := netip.ParseAddr(v); err == nil {
					t.Errorf("%s has an address as label %s=%q", name, l.GetName(), v)
				}
				if _, err := netip.ParseAddrPort(v); err == nil {
					t.Errorf("%s has an address as label %s=%q", name, l.GetName(), v)
				}
			}
		}
	}
}

// checkDashboard: every series the Grafana dashboard's queries name exists in fams.
func checkDashboard(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana/mdmproxy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating  struct{ List []struct{ Definition string } }
		Annotations struct{ List []struct{ Expr string } }
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	for _, a := range dash.Annotations.List {
		exprs = append(exprs, a.Expr)
	}
	series := regexp.MustCompile(`\b(?:mdmproxy|process|go)_[a-z0-9_]+\b`)
	names := 0
	for _, e := range exprs {
		for _, name := range series.FindAllString(e, -1) {
			names++
			family := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] != nil && fams[base].GetType() == dto.MetricType_HISTOGRAM {
					family = base
				}
			}
			if fams[family] == nil {
				t.Errorf("the dashboard queries %s, which /metrics does not have: %s", name, e)
			}
		}
	}
	if names < 15 {
		t.Errorf("the dashboard names only %d series", names)
	}
}
