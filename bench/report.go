package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Metric ids. Each holds one value per round per target.
const (
	MBulk1Plain = "bulk1-plain"
	MBulk1TLS   = "bulk1-tls"
	MBulkNPlain = "bulkN-plain"
	MBulkNTLS   = "bulkN-tls"
	MSetupRate  = "setup-rate"
	MSetupP50   = "setup-p50"
	MSetupP99   = "setup-p99"
	MIdleOpened = "idle-opened"
	MIdleAlive  = "idle-alive"
	MIdleFDs    = "idle-fds"
	MIdleKiB    = "idle-kib"
	MIdleKiBW   = "idle-kib-woken"
	MIdleOpenS  = "idle-open-s"

	// The proxy's own CPU: milliseconds per GB moved, microseconds per tunnel set up.
	MCPUBulk1Plain = "cpu-bulk1-plain"
	MCPUBulk1TLS   = "cpu-bulk1-tls"
	MCPUBulkNPlain = "cpu-bulkN-plain"
	MCPUBulkNTLS   = "cpu-bulkN-tls"
	MCPUSetup      = "cpu-setup"

	// The share of that CPU spent in the kernel (%), from /proc/PID/stat.
	MKernelBulk1Plain = "kernel-bulk1-plain"
	MKernelBulk1TLS   = "kernel-bulk1-tls"
	MKernelBulkNPlain = "kernel-bulkN-plain"
	MKernelBulkNTLS   = "kernel-bulkN-tls"
	MKernelSetup      = "kernel-setup"

	// A large configuration (Params.BigRules rules), mdmproxy only.
	MBigLoad      = "big-load-s"    // `mdmproxy validate` wall time
	MBigReload    = "big-reload-s"  // SIGHUP to "configuration reloaded"
	MRTSteadyP50  = "rt-steady-p50" // round trips of open tunnels outside reloads (ms)
	MRTSteadyP99  = "rt-steady-p99" //
	MRTSteadyMax  = "rt-steady-max" //
	MRTReloadP50  = "rt-reload-p50" // round trips that overlapped a reload (ms)
	MRTReloadP99  = "rt-reload-p99" //
	MRTReloadMax  = "rt-reload-max" //
	MReloadGap    = "reload-gap"    // longest wait for an answer during a reload (ms)
	MReloadRTs    = "reload-rts"    // round trips that overlapped a reload
	MReloadFailed = "reload-failed" // round trips that failed
	MReloadAlive  = "reload-alive"  // tunnels that answered after the reloads
)

// CPUSetupVs is the metric holding mdmproxy's CPU per tunnel set up divided by other's, one
// value per set-up round in which both completed tunnels.
func CPUSetupVs(other string) string { return "cpu-setup-vs-" + other }

// CPUMetric is the proxy-CPU metric that goes with a bulk metric.
func CPUMetric(bulk string) string { return "cpu-" + bulk }

// KernelMetric is the kernel-share metric that goes with a bulk metric.
func KernelMetric(bulk string) string { return "kernel-" + bulk }

// Results are the values of every round, by metric and target.
type Results struct {
	Values map[string]map[string][]float64
	Errors []string // failures, each naming its target, metric and round
}

// Add records one round's value.
func (r *Results) Add(metric, target string, v float64) {
	if r.Values == nil {
		r.Values = map[string]map[string][]float64{}
	}
	if r.Values[metric] == nil {
		r.Values[metric] = map[string][]float64{}
	}
	r.Values[metric][target] = append(r.Values[metric][target], v)
}

// Errorf records a failure.
func (r *Results) Errorf(format string, args ...any) {
	r.Errors = append(r.Errors, fmt.Sprintf(format, args...))
}

// Median of the metric's rounds for target; ok is false when there are none.
func (r *Results) Median(metric, target string) (float64, bool) {
	vs := r.Values[metric][target]
	if len(vs) == 0 {
		return 0, false
	}
	return Median(vs), true
}

// Median of vs (the mean of the two middle values for an even count).
func Median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Params are the run's settings, printed with the results.
type Params struct {
	Rounds, IdleRounds, BulkRounds int
	BulkBytes                      int64 // per run for one tunnel
	BulkTunnels                    int
	SetupDuration                  time.Duration
	SetupConcurrency               int
	IdleN                          int
	IdleHold                       time.Duration
	BigRules                       int           // rules in the large configuration
	ReloadTunnels, Reloads         int           // open tunnels and reloads of the reload test
	ReloadEvery                    time.Duration // each tunnel's round-trip interval during it
	ReloadSteady                   time.Duration // round trips before the first reload (half of it between two)
}

// ProfileRun is one CPU profile of mdmproxy taken by the suite.
type ProfileRun struct {
	Label   string
	Summary ProfileSummary
	Err     error
}

// ProfileTable shows where mdmproxy's CPU went in each profile, by category and by function.
func (r *Report) ProfileTable() string {
	var ok []ProfileRun
	for _, p := range r.Profiles {
		if p.Err == nil {
			ok = append(ok, p)
		}
	}
	if len(ok) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| Share of mdmproxy's CPU samples |")
	sep := "|---|"
	for _, p := range ok {
		b.WriteString(" " + p.Label + " |")
		sep += "---:|"
	}
	b.WriteString("\n" + sep + "\n")
	for _, c := range Categories {
		b.WriteString("| " + c + " |")
		for _, p := range ok {
			fmt.Fprintf(&b, " %.0f%% |", p.Summary.ByCategory[c])
		}
		b.WriteString("\n")
	}
	b.WriteString("| Samples (s of CPU) |")
	for _, p := range ok {
		fmt.Fprintf(&b, " %.2f |", p.Summary.Total)
	}
	b.WriteString("\n")
	for _, p := range ok {
		fmt.Fprintf(&b, "\n%s, the functions with the most samples of their own: ", p.Label)
		for i, f := range p.Summary.Top {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "`%s` %.1f%%", f.Name, f.Percent)
		}
		b.WriteString(".\n")
	}
	return b.String()
}

// TargetInfo names a column.
type TargetInfo struct{ Name, Label string }

// Report is everything docs/benchmarks.md shows.
type Report struct {
	Machine  Machine
	Params   Params
	Targets  []TargetInfo // direct first, then mdmproxy, then the others
	Results  *Results
	Micro    *MicroResult
	Runtime  time.Duration
	Notes    []string
	Profiles []ProfileRun // mdmproxy's CPU profiles under load
	Preserve string       // the hand-written section kept from the previous file
	Soak     string       // the section `make soak` wrote into the previous file
	// Transparent is the section on intercepted tunnels (TransparentResult.Markdown); empty
	// when not measured.
	Transparent string
}

type rowSpec struct {
	id, label string
	prec      int
	latency   bool // lower is better; show differences in ms rather than ratios
	perTunnel bool // no direct value (idle and proxy-CPU rows); lower is better
	rawOnly   bool // only in the every-round table
	noRatio   bool // a share: no mdmproxy-vs-Squid ratio
}

func (r *Report) rows() []rowSpec {
	p := r.Params
	return []rowSpec{
		{id: MBulk1Plain, label: "Bulk, 1 tunnel, plain (MB/s)"},
		{id: MBulk1TLS, label: "Bulk, 1 tunnel, TLS (MB/s)"},
		{id: MBulkNPlain, label: fmt.Sprintf("Bulk, %d tunnels, plain (MB/s)", p.BulkTunnels)},
		{id: MBulkNTLS, label: fmt.Sprintf("Bulk, %d tunnels, TLS (MB/s)", p.BulkTunnels)},
		{id: MSetupRate, label: fmt.Sprintf("Tunnel set-up rate, concurrency %d (tunnels/s)", p.SetupConcurrency)},
		{id: MSetupP50, label: "Set-up latency p50 (ms)", prec: 2, latency: true},
		{id: MSetupP99, label: "Set-up latency p99 (ms)", prec: 2, latency: true},
		{id: MHTTPRateKeepAlive, label: fmt.Sprintf("Plain-HTTP requests/s, client keep-alive, concurrency %d", p.SetupConcurrency)},
		{id: MHTTPRateNew, label: fmt.Sprintf("Plain-HTTP requests/s, a connection per request, concurrency %d", p.SetupConcurrency)},
		{id: MIdleOpened, label: fmt.Sprintf("Idle TLS tunnels held of %d / alive after %s", p.IdleN, p.IdleHold)},
		{id: MIdleFDs, label: "Descriptors per idle tunnel", prec: 2, perTunnel: true},
		{id: MIdleKiB, label: "RSS per idle tunnel (KiB)", prec: 2, perTunnel: true},
		{id: MIdleKiBW, label: "RSS per tunnel right after all did a round trip at once (KiB)", prec: 2, perTunnel: true},
		{id: MCPUBulk1Plain, label: "Proxy CPU, bulk 1 tunnel plain (ms per GB)", perTunnel: true},
		{id: MCPUBulk1TLS, label: "Proxy CPU, bulk 1 tunnel TLS (ms per GB)", perTunnel: true},
		{id: MCPUBulkNPlain, label: fmt.Sprintf("Proxy CPU, bulk %d tunnels plain (ms per GB)", p.BulkTunnels), perTunnel: true, rawOnly: true},
		{id: MCPUBulkNTLS, label: fmt.Sprintf("Proxy CPU, bulk %d tunnels TLS (ms per GB)", p.BulkTunnels), perTunnel: true, rawOnly: true},
		{id: MCPUSetup, label: "Proxy CPU per tunnel set up (µs)", perTunnel: true},
		{id: MKernelBulk1Plain, label: "Proxy CPU in the kernel, bulk 1 tunnel plain (%)", perTunnel: true, noRatio: true},
		{id: MKernelBulk1TLS, label: "Proxy CPU in the kernel, bulk 1 tunnel TLS (%)", perTunnel: true, noRatio: true},
		{id: MKernelBulkNPlain, label: fmt.Sprintf("Proxy CPU in the kernel, bulk %d tunnels plain (%%)", p.BulkTunnels), perTunnel: true, rawOnly: true},
		{id: MKernelBulkNTLS, label: fmt.Sprintf("Proxy CPU in the kernel, bulk %d tunnels TLS (%%)", p.BulkTunnels), perTunnel: true, rawOnly: true},
		{id: MKernelSetup, label: "Proxy CPU in the kernel, set-up (%)", perTunnel: true, noRatio: true},
		{id: MBigLoad, label: fmt.Sprintf("`mdmproxy validate` of %s rules (s)", fmtNum(float64(p.BigRules), 0)), prec: 3, rawOnly: true},
		{id: MBigReload, label: fmt.Sprintf("Reload of %s rules under load, SIGHUP to done (s)", fmtNum(float64(p.BigRules), 0)), prec: 3, rawOnly: true},
	}
}

func (r *Report) has(target string) bool {
	for _, t := range r.Targets {
		if t.Name == target {
			return true
		}
	}
	return false
}

func fmtNum(v float64, prec int) string {
	if math.IsNaN(v) {
		return "—"
	}
	s := fmt.Sprintf("%.*f", prec, v)
	if prec == 0 && math.Abs(v) >= 10000 {
		// thousands separated by a thin space keep big numbers readable
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteString("\u202f")
			}
			b.WriteRune(c)
		}
		s = b.String()
		if neg {
			s = "-" + s
		}
	}
	return s
}

func signedMS(d float64) string {
	if d >= 0 {
		return fmt.Sprintf("+%.2f ms", d)
	}
	return fmt.Sprintf("−%.2f ms", -d)
}

// cell is one target's value for a row, with its comparison to direct.
func (r *Report) cell(row rowSpec, target string) string {
	res := r.Results
	if row.id == MIdleOpened {
		opened := res.Values[MIdleOpened][target]
		alive := res.Values[MIdleAlive][target]
		if len(opened) == 0 {
			return "—"
		}
		// the worst round: every round must hold and keep all of them
		return fmt.Sprintf("%s / %s", fmtNum(slices.Min(opened), 0), fmtNum(slices.Min(alive), 0))
	}
	v, ok := res.Median(row.id, target)
	if !ok {
		return "—"
	}
	s := fmtNum(v, row.prec)
	if target == "direct" || row.perTunnel {
		return s
	}
	d, ok := res.Median(row.id, "direct")
	if !ok || d == 0 {
		return s
	}
	if row.latency {
		return s + " (" + signedMS(v-d) + ")"
	}
	return fmt.Sprintf("%s (%.2f×)", s, v/d)
}

// vsSquid compares mdmproxy with Squid for a row.
func (r *Report) vsSquid(row rowSpec) string {
	if row.id == MIdleOpened || row.noRatio {
		return ""
	}
	m, ok1 := r.Results.Median(row.id, "mdmproxy")
	s, ok2 := r.Results.Median(row.id, "squid")
	if !ok1 || !ok2 || s == 0 {
		return "—"
	}
	if row.latency {
		return signedMS(m - s)
	}
	return fmt.Sprintf("%.2f×", m/s)
}

// Table is the results table in markdown.
func (r *Report) Table() string {
	var b strings.Builder
	b.WriteString("| Measure (median of rounds) |")
	sep := "|---|"
	for _, t := range r.Targets {
		b.WriteString(" " + t.Label + " |")
		sep += "---:|"
	}
	if r.has("mdmproxy") && r.has("squid") {
		b.WriteString(" mdmproxy vs Squid |")
		sep += "---:|"
	}
	b.WriteString("\n" + sep + "\n")
	for _, row := range r.rows() {
		if len(r.Results.Values[row.id]) == 0 || row.rawOnly {
			continue
		}
		b.WriteString("| " + row.label + " |")
		for _, t := range r.Targets {
			b.WriteString(" " + r.cell(row, t.Name) + " |")
		}
		if r.has("mdmproxy") && r.has("squid") {
			b.WriteString(" " + r.vsSquid(row) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// BigConfigTable shows the large-configuration test: load time, and round trips of open
// tunnels outside and during reloads. Empty when the test did not run.
func (r *Report) BigConfigTable() string {
	res := r.Results
	if len(res.Values[MBigLoad]) == 0 && len(res.Values[MRTSteadyP50]) == 0 {
		return ""
	}
	m := func(id string, prec int) string {
		v, ok := res.Median(id, "mdmproxy")
		return fmtOr(v, ok, prec)
	}
	var b strings.Builder
	b.WriteString("| Measure | mdmproxy |\n|---|---:|\n")
	fmt.Fprintf(&b, "| Load, check and compile it: `mdmproxy validate`, a fresh process (s, median of %d) | %s |\n", len(res.Values[MBigLoad]["mdmproxy"]), m(MBigLoad, 3))
	fmt.Fprintf(&b, "| Reload it on the running proxy: SIGHUP to \"configuration reloaded\" (s, median of %d) | %s |\n", len(res.Values[MBigReload]["mdmproxy"]), m(MBigReload, 3))
	fmt.Fprintf(&b, "| Round trip on the open tunnels outside reloads: p50 / p99 / max (ms) | %s / %s / %s |\n", m(MRTSteadyP50, 2), m(MRTSteadyP99, 2), m(MRTSteadyMax, 2))
	fmt.Fprintf(&b, "| Round trip on the open tunnels during reloads: p50 / p99 / max (ms) | %s / %s / %s |\n", m(MRTReloadP50, 2), m(MRTReloadP99, 2), m(MRTReloadMax, 2))
	fmt.Fprintf(&b, "| Longest time between two answers on one tunnel during a reload (ms; each tunnel asks every %s, so about that is no wait at all) | %s |\n", r.Params.ReloadEvery, m(MReloadGap, 1))
	fmt.Fprintf(&b, "| Round trips during reloads / tunnels failed / tunnels alive after (of %d) | %s / %s / %s |\n", r.Params.ReloadTunnels, m(MReloadRTs, 0), m(MReloadFailed, 0), m(MReloadAlive, 0))
	return b.String()
}

// reloadStall is the round trip that counts as a stall in the reload test: a reload that held
// the tunnels up would show as round trips as long as the reload (hundreds of milliseconds for
// a large configuration); it is short against a push client's patience.
const reloadStall = 100 * time.Millisecond

// Check is one target of issue #3.
type Check struct {
	What, Want, Got string
	Status          string // met, MISSED, not measured
}

func (r *Report) ratio(metric, a, b string) (float64, bool) {
	x, ok1 := r.Results.Median(metric, a)
	y, ok2 := r.Results.Median(metric, b)
	if !ok1 || !ok2 || y == 0 {
		return 0, false
	}
	return x / y, true
}

func status(measured, ok bool) string {
	switch {
	case !measured:
		return "not measured"
	case ok:
		return "met"
	default:
		return "**MISSED**"
	}
}

// Checks compares the medians with the targets of issue #3.
func (r *Report) Checks() []Check {
	var cs []Check
	ratioCheck := func(what, metric, a, b string, want float64) {
		v, ok := r.ratio(metric, a, b)
		got := "—"
		if ok {
			got = fmt.Sprintf("%.3f×", v)
		}
		cs = append(cs, Check{What: what, Want: fmt.Sprintf("≥ %.2f×", want), Got: got, Status: status(ok, v >= want)})
	}
	ratioCheck("Bulk through one tunnel, plain, vs direct", MBulk1Plain, "mdmproxy", "direct", 0.97)
	ratioCheck("Bulk through one tunnel, TLS, vs direct", MBulk1TLS, "mdmproxy", "direct", 0.80)
	ratioCheck("Tunnel set-up rate vs direct", MSetupRate, "mdmproxy", "direct", 0.80)
	ratioCheck("Tunnel set-up rate vs Squid peek-and-splice", MSetupRate, "mdmproxy", "squid", 1.15)
	ratioCheck("Tunnel set-up rate, syslog collector down, vs events to a file (issue #13)", MSetupRate, SyslogDownName, "mdmproxy", 0.95)
	ratioCheck("CONNECT set-up rate chained through mdmproxy to Squid vs straight to Squid (issue #11)", MSetupRate, ChainName, "squid", 0.80)
	{
		m, ok1 := r.Results.Median(MSetupP99, "mdmproxy")
		d, ok2 := r.Results.Median(MSetupP99, "direct")
		got := "—"
		if ok1 && ok2 {
			got = signedMS(m - d)
		}
		cs = append(cs, Check{What: "p99 set-up latency added vs direct", Want: "≤ 1 ms", Got: got, Status: status(ok1 && ok2, m-d <= 1)})
	}
	{
		opened := r.Results.Values[MIdleOpened]["mdmproxy"]
		alive := r.Results.Values[MIdleAlive]["mdmproxy"]
		measured := len(opened) > 0
		ok := measured
		got := "—"
		if measured {
			ok = slices.Min(opened) == float64(r.Params.IdleN) && slices.Min(alive) == float64(r.Params.IdleN)
			got = fmt.Sprintf("%s held, %s alive (worst of %d rounds)", fmtNum(slices.Min(opened), 0), fmtNum(slices.Min(alive), 0), len(opened))
		}
		cs = append(cs, Check{What: fmt.Sprintf("%d idle TLS tunnels, all alive after the hold", r.Params.IdleN),
			Want: "all", Got: got, Status: status(measured, ok)})
	}
	fd, ok := r.Results.Median(MIdleFDs, "mdmproxy")
	cs = append(cs, Check{What: "Descriptors per idle tunnel", Want: "≤ 2.2", Got: fmtOr(fd, ok, 2), Status: status(ok, fd <= 2.2)})
	kib, ok := r.Results.Median(MIdleKiB, "mdmproxy")
	cs = append(cs, Check{What: "RSS per idle tunnel", Want: "≤ 8 KiB", Got: fmtOr(kib, ok, 2) + " KiB", Status: status(ok, kib <= 8)})
	{
		// Behind a balancer the PROXY header is read, never wrapped around the connection, so
		// parked tunnels cost the same; a tenth of a KiB is inside the rounds' spread.
		ppFD, ok1 := r.Results.Median(MIdleFDs, ProxyProtoName)
		ppKiB, ok2 := r.Results.Median(MIdleKiB, ProxyProtoName)
		got := "—"
		if ok1 && ok2 {
			got = fmt.Sprintf("%.2f descriptors, %.2f KiB (direct clients: %s, %s KiB)", ppFD, ppKiB, fmtOr(fd, fd > 0, 2), fmtOr(kib, ok, 2))
		}
		cs = append(cs, Check{What: "Idle tunnels behind PROXY protocol (issue #14)", Want: "the direct clients' figures (≤ 2.2 descriptors, KiB within 10%)",
			Got: got, Status: status(ok1 && ok2 && ok, ppFD <= 2.2 && ppKiB <= kib*1.1)})
	}
	if r.Micro != nil {
		worst, name := 0.0, ""
		for _, b := range r.Micro.Benches {
			if strings.HasPrefix(b.Name, "BenchmarkDecide") {
				if v := b.Metrics["ns/op"]; v > worst {
					worst, name = v, b.Name
				}
			}
		}
		got := "—"
		if name != "" {
			got = fmt.Sprintf("%.1f ns (slowest: %s)", worst, strings.TrimPrefix(name, "BenchmarkDecide/"))
		}
		cs = append(cs, Check{What: "A decision (BenchmarkDecide, every case)", Want: "≤ 300 ns", Got: got, Status: status(name != "", worst <= 300)})
	}
	{
		v, ok := r.Results.Median(MBigLoad, "mdmproxy")
		got := "—"
		if ok {
			got = fmt.Sprintf("%.3f s (`mdmproxy validate`, median)", v)
		}
		cs = append(cs, Check{What: fmt.Sprintf("That configuration (%s rules) loads", fmtNum(float64(r.Params.BigRules), 0)), Want: "< 1 s", Got: got, Status: status(ok, v < 1)})
	}
	{
		worst, ok1 := r.Results.Median(MRTReloadMax, "mdmproxy")
		failed, ok2 := r.Results.Median(MReloadFailed, "mdmproxy")
		alive, ok3 := r.Results.Median(MReloadAlive, "mdmproxy")
		reload, _ := r.Results.Median(MBigReload, "mdmproxy")
		p99, _ := r.Results.Median(MRTReloadP99, "mdmproxy")
		steady, _ := r.Results.Median(MRTSteadyP99, "mdmproxy")
		measured := ok1 && ok2 && ok3
		got := "—"
		if measured {
			got = fmt.Sprintf("reloads of %.2f s; slowest round trip during them %.1f ms, p99 %.1f ms (%.1f ms outside reloads); %s tunnels failed; %s of %d alive",
				reload, worst, p99, steady, fmtNum(failed, 0), fmtNum(alive, 0), r.Params.ReloadTunnels)
		}
		cs = append(cs, Check{What: "Its reload does not stall open tunnels", Want: fmt.Sprintf("every round trip during reloads answered within %d ms; no tunnel fails", reloadStall.Milliseconds()), Got: got,
			Status: status(measured, worst <= float64(reloadStall.Milliseconds()) && failed == 0 && alive == float64(r.Params.ReloadTunnels))})
	}
	for _, c := range []struct {
		other, label string
		want         float64
	}{{"squid", "Squid peek-and-splice's", 0.85}, {"gorelay", "the bare Go CONNECT relay's", 1.15}} {
		vs := r.Results.Values[CPUSetupVs(c.other)]["mdmproxy"]
		got := "—"
		v := Median(vs)
		if len(vs) > 0 {
			lo, hi := MedianCI(vs)
			got = fmt.Sprintf("%.2f× [%.2f, %.2f] (median of %d paired rounds, 95%% CI)", v, lo, hi, len(vs))
		}
		cs = append(cs, Check{What: "Proxy CPU per tunnel set up vs " + c.label + " (issue #17)", Want: fmt.Sprintf("≤ %.2f×", c.want), Got: got, Status: status(len(vs) > 0, v <= c.want)})
	}
	soak := Check{What: "No growth over a 10-minute soak", Want: "none", Got: "`make soak`", Status: "not measured"}
	if v := SoakVerdict(r.Soak); v != "" {
		soak.Got, soak.Status = "see the soak section below (a separate run)", v
	}
	cs = append(cs, soak)
	return cs
}

func fmtOr(v float64, ok bool, prec int) string {
	if !ok {
		return "—"
	}
	return fmtNum(v, prec)
}

// ChecksTable renders Checks.
func (r *Report) ChecksTable() string {
	var b strings.Builder
	b.WriteString("| Target | Wanted | Measured | |\n|---|---|---|---|\n")
	for _, c := range r.Checks() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.What, c.Want, c.Got, c.Status)
	}
	return b.String()
}

// RunsTable lists every round's value, to show the noise the medians hide.
func (r *Report) RunsTable() string {
	var b strings.Builder
	maxR := 0
	for _, byT := range r.Results.Values {
		for _, vs := range byT {
			maxR = max(maxR, len(vs))
		}
	}
	b.WriteString("| Measure | Target |")
	sep := "|---|---|"
	for i := range maxR {
		fmt.Fprintf(&b, " round %d |", i+1)
		sep += "---:|"
	}
	b.WriteString(" median | spread |\n" + sep + "---:|---:|\n")
	rows := r.rows()
	rows = append(rows, rowSpec{id: MIdleAlive, label: "Idle tunnels alive after the hold"},
		rowSpec{id: MIdleOpenS, label: "Time to open the idle tunnels (s)", prec: 1})
	for _, row := range rows {
		label := row.label
		if row.id == MIdleOpened {
			label = "Idle tunnels held"
		}
		for _, t := range r.Targets {
			vs := r.Results.Values[row.id][t.Name]
			if len(vs) == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s |", label, t.Label)
			for i := range maxR {
				if i < len(vs) {
					b.WriteString(" " + fmtNum(vs[i], row.prec) + " |")
				} else {
					b.WriteString(" |")
				}
			}
			med := Median(vs)
			spread := "—"
			if med != 0 && len(vs) > 1 {
				spread = fmt.Sprintf("±%.1f%%", (slices.Max(vs)-slices.Min(vs))/2/math.Abs(med)*100)
			}
			fmt.Fprintf(&b, " %s | %s |\n", fmtNum(med, row.prec), spread)
		}
	}
	return b.String()
}

// MicroTable renders the Go benchmarks.
func (r *Report) MicroTable() string {
	m := r.Micro
	if m == nil {
		return "Not run (`-micro=false`).\n"
	}
	var b strings.Builder
	if m.Err != nil && len(m.Benches) == 0 {
		fmt.Fprintf(&b, "The Go benchmarks failed: %v\n\n```\n%s\n```\n", m.Err, tail(m.Output, 3000))
		return b.String()
	}
	b.WriteString("| Package | Benchmark | ns/op | B/op | allocs/op | other |\n|---|---|---:|---:|---:|---|\n")
	for _, x := range m.Benches {
		var other []string
		for _, u := range x.Units {
			if u != "ns/op" && u != "B/op" && u != "allocs/op" {
				other = append(other, fmt.Sprintf("%g %s", x.Metrics[u], u))
			}
		}
		pkg := strings.TrimPrefix(x.Pkg, "github.com/mdmproxy/mdmproxy/")
		ns := x.Metrics["ns/op"]
		nsPrec := 1
		if ns >= 10000 {
			nsPrec = 0
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", pkg, strings.TrimPrefix(x.Name, "Benchmark"),
			fmtNum(ns, nsPrec), fmtNum(x.Metrics["B/op"], 0), fmtNum(x.Metrics["allocs/op"], 0), strings.Join(other, ", "))
	}
	if m.Err != nil {
		fmt.Fprintf(&b, "\nThe run ended with an error: %v\n", m.Err)
	}
	return b.String()
}

// DesignSection is the heading of the hand-written section that a new run keeps.
const DesignSection = "## What each design choice bought"

// DefaultDesignSection is written when the previous file has none.
const DefaultDesignSection = DesignSection + `

TODO: what splicing with a borrowed pipe, reading the ClientHello in place, the allowlist's
compiled form and the asynchronous event writer each bought, measured by turning each off.
(This section is kept as it is when ` + "`make bench`" + ` rewrites this file.)
`

// SoakSection is the heading of the section `make soak` writes; `make bench` keeps it.
const SoakSection = "## Soak (`make soak`)"

// ExtractDesignSection returns the hand-written section of a previous docs/benchmarks.md.
func ExtractDesignSection(doc string) string { return ExtractSection(doc, DesignSection) }

// ExtractSection returns the section of doc under heading, from the heading to the next "## "
// heading or the end; "" if there is none.
func ExtractSection(doc, heading string) string {
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		if !strings.HasPrefix(doc, heading+"\n") {
			return ""
		}
	} else {
		doc = doc[i+1:]
	}
	rest := doc[len(heading):]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j+1]
	}
	return heading + rest
}

// ReplaceSection puts section (which starts with its heading) into doc in place of the one
// with the same heading, or before the design section, or at the end.
func ReplaceSection(doc, heading, section string) string {
	section = strings.TrimRight(section, "\n") + "\n"
	if old := ExtractSection(doc, heading); old != "" {
		i := strings.Index(doc, old)
		return doc[:i] + section + doc[i+len(old):]
	}
	if i := strings.Index(doc, "\n"+DesignSection+"\n"); i >= 0 {
		return doc[:i+1] + section + "\n" + doc[i+1:]
	}
	if doc != "" && !strings.HasSuffix(doc, "\n") {
		doc += "\n"
	}
	return doc + "\n" + section
}

// SoakVerdict reads the verdict from a soak section: "met", "MISSED" or "".
func SoakVerdict(section string) string {
	switch {
	case strings.Contains(section, "GROWTH or LOSS"):
		return "**MISSED**"
	case strings.Contains(section, ": no growth"):
		return "met"
	}
	return ""
}

// Markdown is the whole docs/benchmarks.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	m := r.Machine
	p := r.Params
	b.WriteString("# Benchmarks\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (`bench/cmd/benchrun`) on %s, in %s. Every number is the median of\n", m.Date.Format("2006-01-02 15:04 MST"), r.Runtime.Round(time.Second))
	b.WriteString("interleaved rounds on one machine; each proxy's figure is followed by its ratio to a direct\n")
	b.WriteString("connection (for latencies, the milliseconds it adds). All traffic is on 127.0.0.1: the client,\n")
	b.WriteString("the proxy and the origin share the machine's cores, so these are the proxy's costs where CPU is\n")
	b.WriteString("the limit, not what a school's uplink will show.\n\n")

	b.WriteString("## Results\n\n")
	b.WriteString(r.Table())
	b.WriteString("\n")
	b.WriteString("- **direct**: the same Go client to the origin, no proxy.\n")
	b.WriteString("- **mdmproxy**: `bin/mdmproxy serve` with a generated configuration: one rule per origin (the TLS one `persistent`, `tls: required`, SNI checked; the plain one `tls: optional`), `hosts:` for the names, events as JSON to a file.\n")
	if r.has("squid") {
		b.WriteString("- **Squid**: `squid -N` (one process), `ssl_bump peek step1`, `splice` on `ssl::server_name`, `terminate` otherwise; non-TLS bytes tunnelled by `on_unsupported_protocol tunnel`; no cache, access log to a file.\n")
	}
	if r.has("haproxy") {
		b.WriteString("- **HAProxy**: `haproxy -db`, `mode tcp`, `option splice-request` and `splice-response` (splice always; `splice-auto` spliced less and cost more CPU per GB here), one frontend port per origin. It reads no CONNECT and no ClientHello: the reference for what forwarding alone costs, not a competitor.\n")
	}
	if r.has("gorelay") {
		b.WriteString("- **Go CONNECT relay**: `benchrun relay` (bench/relay.go), the least a Go CONNECT proxy does: it reads the CONNECT head, dials, answers 200 and copies each direction through a pooled 32 KiB buffer on a goroutine of its own. No policy, no ClientHello, no events, no time-outs, no parking, and no splice (for short flights a buffer costs less). The reference for what the CONNECT exchange and Go's runtime cost without any of mdmproxy's work; not measured idle, which it is not built for.\n")
	}
	for _, n := range r.Notes {
		b.WriteString("- " + n + "\n")
	}
	if len(r.Results.Errors) > 0 {
		b.WriteString("\nErrors during the run:\n\n")
		for _, e := range r.Results.Errors {
			b.WriteString("- " + strings.ReplaceAll(e, "\n", " ") + "\n")
		}
	}

	b.WriteString("\n## Targets (issue #3)\n\n")
	b.WriteString(r.ChecksTable())

	if t := r.SetupCPUTable(); t != "" {
		b.WriteString("\n## CPU per tunnel set up\n\n")
		b.WriteString(setupCPUIntro)
		b.WriteString(t)
	}

	if t := r.BigConfigTable(); t != "" {
		fmt.Fprintf(&b, "\n## A large configuration: load and reload\n\n")
		fmt.Fprintf(&b, "%s rules in the shape of the decision benchmark's (ten domains each, half of them wildcards, and one CIDR: "+
			"%s domains and %s CIDRs in all), in YAML, after the suite's two rules. The reload test starts mdmproxy on that file, keeps a round trip "+
			"going on %d open TLS tunnels every %s each, and after %s sends SIGHUP %d times, each after the previous reload's log line and a pause of %s. "+
			"A round trip that overlaps a reload counts as during it.\n\n",
			fmtNum(float64(p.BigRules), 0), fmtNum(float64(p.BigRules*10), 0), fmtNum(float64(p.BigRules), 0), p.ReloadTunnels, p.ReloadEvery, p.ReloadSteady, p.Reloads, p.ReloadSteady/2)
		b.WriteString(t)
	}

	if r.Transparent != "" {
		b.WriteString("\n## Transparent interception\n\n")
		b.WriteString(r.Transparent)
	}

	if t := r.ProfileTable(); t != "" {
		b.WriteString("\n## Where mdmproxy's CPU goes\n\n")
		b.WriteString("CPU profiles of mdmproxy taken in this run through its `/debug/pprof/profile`, after the measured rounds so that " +
			"the profiler slows none of them. Go charges a thread's time in the kernel to the function that made the system call, " +
			"so the first line is the kernel's share: moving bytes between sockets, opening and closing connections, epoll. " +
			"That work is the same for any relay (see the kernel shares of all the proxies in the results table), and on " +
			"loopback the client and the origin pay it again on the same two cores.\n\n")
		b.WriteString(t)
	}

	b.WriteString("\n## Machine\n\n")
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| Date | %s |\n", m.Date.Format(time.RFC3339))
	fmt.Fprintf(&b, "| CPU | %s", orDash(m.CPUModel))
	if r.Micro != nil && r.Micro.CPU != "" && r.Micro.CPU != m.CPUModel {
		fmt.Fprintf(&b, " (Go: %s)", r.Micro.CPU)
	}
	fmt.Fprintf(&b, ", %d logical CPUs (nproc)", m.NProc)
	if m.Virtualized != "" {
		b.WriteString(", virtual machine")
	}
	b.WriteString(" |\n")
	fmt.Fprintf(&b, "| Memory | %s |\n", orDash(m.MemTotal))
	fmt.Fprintf(&b, "| Kernel | Linux %s |\n", orDash(m.Kernel))
	fmt.Fprintf(&b, "| OS | %s |\n", orDash(m.OS))
	fmt.Fprintf(&b, "| Go | %s |\n", orDash(m.GoVersion))
	fmt.Fprintf(&b, "| mdmproxy | %s |\n", orDash(m.Mdmproxy))
	if m.Squid != "" {
		fmt.Fprintf(&b, "| Squid | %s |\n", m.Squid)
	}
	if m.HAProxy != "" {
		fmt.Fprintf(&b, "| HAProxy | %s |\n", m.HAProxy)
	}
	fmt.Fprintf(&b, "| Descriptors (RLIMIT_NOFILE) | %d soft, %d hard |\n", m.NoFileSoft, m.NoFileHard)
	if m.LoadStart != "" {
		fmt.Fprintf(&b, "| Load average (1, 5, 15 min) | %s before the run, %s after |\n", m.LoadStart, orDash(m.LoadEnd))
	}
	if busy(m) {
		fmt.Fprintf(&b, "\nThe load average shows other work on the machine during the run (about %d would be the benchmark's own): "+
			"absolute figures are low and noisy, the interleaved ratios less so.\n", m.NProc)
	}

	b.WriteString("\n## How to reproduce\n\n")
	b.WriteString("```sh\nmake bench          # installs squid-openssl and haproxy if missing (bench/install.sh), then runs everything\n")
	b.WriteString("make bench BENCHFLAGS='-rounds 5 -idle-n 4000'   # see bin/benchrun -h\n")
	b.WriteString("make soak           # optional: idle tunnels held for 10 minutes, RSS and descriptors sampled\n")
	b.WriteString("make bench BENCHFLAGS='-keep -work /tmp/b'   # keep the profiles (/tmp/b/mdmproxy-*.prof) and the logs\n")
	b.WriteString("go run ./bench/cmd/benchab old=/tmp/mdmproxy-old new=bin/mdmproxy   # two builds' CPU per tunnel set up, side by side\n```\n\n")
	fmt.Fprintf(&b, "This run: %d rounds of the set-up test, %d of the bulk tests, %d of the idle test; bulk %s through one tunnel and %s through each of %d tunnels per run; "+
		"set-up for %s at concurrency %d; %d idle TLS tunnels held for %s.\n",
		p.Rounds, p.BulkRounds, p.IdleRounds, fmtBytes(p.BulkBytes), fmtBytes(p.BulkBytes/int64(max(p.BulkTunnels, 1))), p.BulkTunnels,
		p.SetupDuration, p.SetupConcurrency, p.IdleN, p.IdleHold)

	b.WriteString("\n## Method\n\n")
	b.WriteString(methodText)

	b.WriteString("\n## Go micro-benchmarks\n\n")
	if r.Micro != nil {
		fmt.Fprintf(&b, "`%s`, run before the end-to-end tests start.\n\n", r.Micro.Command)
	}
	b.WriteString(r.MicroTable())

	b.WriteString("\n## Every round\n\n")
	b.WriteString("Spread is half the range, as a share of the median.\n\n")
	b.WriteString(r.RunsTable())

	b.WriteString("\n")
	if r.Soak != "" {
		b.WriteString(strings.TrimRight(r.Soak, "\n") + "\n\n")
	}
	if r.Preserve != "" {
		b.WriteString(strings.TrimRight(r.Preserve, "\n") + "\n")
	} else {
		b.WriteString(DefaultDesignSection)
	}
	return b.String()
}

const methodText = `- **Origins**: one separate process (` + "`benchrun origin`" + `) serving plain TCP and TLS 1.3 (ECDSA P-256
  certificate from a throw-away CA, no session tickets) with a two-command protocol: stream N bytes,
  or answer a ping (8 bytes each way: Squid needs a few bytes to tell that a stream is not TLS).
- **Clients**: Go in the runner, crypto/tls with Go's defaults, so the ClientHello carries an
  X25519MLKEM768 key share (1,216 bytes) next to an X25519 one; no session resumption. Through a CONNECT proxy the client
  sends ` + "`CONNECT name:port`" + `, waits for the 200, then speaks; direct and HAProxy clients dial the origin or the
  forwarder's port.
- **Bulk**: the tunnels are opened and answer a round trip before the clock starts; then each asks for its
  share of the bytes, reads them into a 256 KiB buffer and discards them. MB/s is client-side, 10^6 bytes.
  Plain bulk through mdmproxy uses a ` + "`tls: optional`" + ` rule, through Squid ` + "`on_unsupported_protocol tunnel`" + `.
- **Set-up rate**: for a fixed time, each of the concurrent clients repeatedly dials, does the CONNECT, the
  TLS handshake and one round trip, then closes; the rate counts completed ones, the latency runs from the
  dial to the round trip's answer.
- **Idle**: a fresh proxy process per round; its VmRSS (/proc/PID/status) and descriptor count
  (/proc/PID/fd) are read before the tunnels open and after the hold; the differences are divided by the
  tunnels held. Each tunnel is a full TLS session with one round trip; after the hold every tunnel does
  another round trip, and "alive" counts the answers. RSS is read once more right after those round
  trips: all tunnels woke at once. The runner raises its RLIMIT_NOFILE soft limit to
  the hard limit; the proxies inherit it.
- **Proxy CPU**: the sum of the proxy process's threads' run time (/proc/PID/task/*/schedstat) over
  the run, divided by the bytes moved or the tunnels set up. It includes the kernel's work done in the
  proxy's system calls, which on loopback is most of it. The kernel's share of it comes from
  /proc/PID/stat (utime and stime, in 10 ms ticks).
- **Large configuration**: see its section; mdmproxy only, since it is about mdmproxy's own
  configuration.
- **Interleaving**: each round runs every target once, in an order that rotates from round to round;
  the tables show medians of the rounds.

Reading the numbers: on loopback, every byte and every connection costs kernel CPU in the sender, in
the proxy and in the receiver, and all three share the machine's cores. A proxy adds a hop, so it adds
that work, and on a machine with few cores the throughput and set-up ratios mostly measure that CPU
cost. A network link is slower than loopback, so there the ratios would be closer to 1. Even HAProxy
shows this, and it only forwards bytes. The proxy-CPU rows state the cost directly, per GB and per
tunnel. At a fixed concurrency, latency is about concurrency ÷ rate on a saturated machine, so the
latency added follows the rate lost.
`

// busy reports whether the load average before the run says other work was running.
func busy(m Machine) bool {
	f := strings.Fields(m.LoadStart)
	if len(f) == 0 {
		return false
	}
	var l float64
	fmt.Sscan(f[0], &l)
	return l > float64(m.NProc)/2
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

const setupCPUIntro = "Each proxy's own CPU (utime + stime of its process, from /proc, every thread) over the tunnels it completed in a set-up " +
	"round, in the same interleaved rounds as the set-up rates above. The set-up rate is a poor measure of a proxy's cost on this machine: " +
	"the load generator, the origin and the proxy share two cores, and the proxy is only about a fifth of the CPU a tunnel costs in all " +
	"(the client's TLS handshake and the origin's dominate), so even a proxy that cost nothing would raise the rate by about a quarter, and " +
	"halving the proxy's CPU moves the rate ratio by about a tenth, inside the round-to-round noise of a shared VM. The proxy's CPU per " +
	"tunnel is the figure that says how many devices one replica can take at the 8 o'clock reconnect; it is compared here as the median " +
	"of per-round ratios (pairing within a round cancels the machine's drift), with a 95% bootstrap confidence interval.\n\n"

// SetupCPUTable shows each proxy's CPU per tunnel set up with a confidence interval, and
// mdmproxy's per-round ratios to the others. Empty when the set-up test did not run.
func (r *Report) SetupCPUTable() string {
	byT := r.Results.Values[MCPUSetup]
	if len(byT) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| Proxy | CPU per tunnel set up (µs), median | 95% CI | rounds |\n|---|---:|---:|---:|\n")
	for _, t := range r.Targets {
		vs := byT[t.Name]
		if len(vs) == 0 {
			continue
		}
		lo, hi := MedianCI(vs)
		fmt.Fprintf(&b, "| %s | %.0f | %.0f–%.0f | %d |\n", t.Label, Median(vs), lo, hi, len(vs))
	}
	b.WriteString("\n| mdmproxy's CPU per tunnel over | median of per-round ratios | 95% CI | rounds |\n|---|---:|---:|---:|\n")
	for _, t := range r.Targets {
		vs := r.Results.Values[CPUSetupVs(t.Name)]["mdmproxy"]
		if len(vs) == 0 {
			continue
		}
		lo, hi := MedianCI(vs)
		fmt.Fprintf(&b, "| %s | %.2f× | %.2f–%.2f | %d |\n", t.Label, Median(vs), lo, hi, len(vs))
	}
	return b.String()
}
