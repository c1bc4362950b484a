// Command benchrun is mdmproxy's end-to-end benchmark: `make bench` runs it. It starts an origin
// process, mdmproxy, Squid (peek-and-splice) and HAProxy (TCP forwarding, a reference) on loopback,
// measures each against a direct connection, runs the Go micro-benchmarks, prints a markdown
// table and writes docs/benchmarks.md.
//
//	benchrun [flags]          the benchmark (see -h)
//	benchrun -soak [flags]    idle tunnels through mdmproxy for -soak-duration, sampled
//	benchrun origin CERT KEY  the origin process (started by benchrun itself)
//	benchrun relay            the reference Go CONNECT relay (started by benchrun itself)
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mdmproxy/mdmproxy/bench"
)

type options struct {
	mdmproxy, squid, haproxy, goBin, repo, out, work string
	relay, syslogDown                                bool
	keep, micro                                      bool
	rounds, idleRounds, bulkRounds, httpRounds       int
	bulkMiB                                          int
	bulkTunnels                                      int
	setupDur                                         time.Duration
	setupConc                                        int
	idleN                                            int
	idleHold                                         time.Duration
	only                                             string
	bigRules, reloadTunnels, reloads                 int
	reloadEvery                                      time.Duration

	soak                  bool
	soakDur, soakInterval time.Duration
	soakOut               string
	soakFDSlack           int
	soakDoc               string
	soakPing              bool
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "origin":
			os.Exit(bench.RunOrigin(os.Args[2:]))
		case "relay":
			os.Exit(bench.RunRelay(os.Args[2:]))
		}
	}
	var o options
	flag.StringVar(&o.mdmproxy, "mdmproxy", "bin/mdmproxy", "the mdmproxy binary")
	flag.StringVar(&o.squid, "squid", "squid", "the squid binary (built with OpenSSL: Debian's squid-openssl); empty: no Squid")
	flag.StringVar(&o.haproxy, "haproxy", "haproxy", "the haproxy binary; empty: no HAProxy")
	flag.BoolVar(&o.relay, "relay", true, "measure the reference Go CONNECT relay too (bulk and set-up)")
	flag.BoolVar(&o.syslogDown, "syslog-down", true, "measure set-up through mdmproxy whose syslog collector is down too, against mdmproxy writing events to a file")
	flag.StringVar(&o.goBin, "go", "go", "the go command, for the micro-benchmarks and the version")
	flag.StringVar(&o.repo, "repo", ".", "the repository's root")
	flag.StringVar(&o.out, "out", "docs/benchmarks.md", "the report to write (relative to -repo); empty: print only")
	flag.StringVar(&o.work, "work", "", "work directory for configurations and logs (default: a new temporary one)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.BoolVar(&o.micro, "micro", true, "run the Go micro-benchmarks")
	flag.IntVar(&o.rounds, "rounds", 8, "interleaved rounds of the set-up test (paired per-round CPU ratios need several for a useful confidence interval)")
	flag.IntVar(&o.idleRounds, "idle-rounds", 3, "rounds of the idle test (0: -rounds)")
	flag.IntVar(&o.bulkRounds, "bulk-rounds", 5, "rounds of the bulk tests (short runs: more rounds; 0: -rounds)")
	flag.IntVar(&o.httpRounds, "http-rounds", 3, "rounds of the plain-HTTP request-rate test (each -setup-duration per proxy and keep-alive mode)")
	flag.IntVar(&o.bulkMiB, "bulk-mib", 256, "MiB per bulk run (through one tunnel; split across tunnels for -bulk-tunnels)")
	flag.IntVar(&o.bulkTunnels, "bulk-tunnels", 8, "tunnels of the parallel bulk test")
	flag.DurationVar(&o.setupDur, "setup-duration", 5*time.Second, "length of one set-up rate run")
	flag.IntVar(&o.setupConc, "setup-concurrency", 16, "concurrent clients of the set-up rate test")
	flag.IntVar(&o.idleN, "idle-n", 8000, "idle TLS tunnels to hold")
	flag.DurationVar(&o.idleHold, "idle-hold", 10*time.Second, "how long the idle tunnels are held")
	flag.StringVar(&o.only, "only", "bulk,setup,plainhttp,idle,config,transparent", "which end-to-end tests to run (plainhttp: requests per second through mdmproxy, Squid and direct; transparent: intercepted beside CONNECT tunnels, in network namespaces; needs root)")
	flag.IntVar(&o.bigRules, "big-rules", 10000, "rules in the large configuration of the config test")
	flag.IntVar(&o.reloadTunnels, "reload-tunnels", 32, "open TLS tunnels during the reloads")
	flag.IntVar(&o.reloads, "reloads", 5, "reloads of the large configuration under load")
	flag.DurationVar(&o.reloadEvery, "reload-every", 20*time.Millisecond, "each tunnel's round-trip interval during the reload test")
	flag.BoolVar(&o.soak, "soak", false, "run the soak instead: -idle-n tunnels through mdmproxy for -soak-duration")
	flag.DurationVar(&o.soakDur, "soak-duration", 10*time.Minute, "soak length")
	flag.DurationVar(&o.soakInterval, "soak-interval", 30*time.Second, "soak sampling interval")
	flag.BoolVar(&o.soakPing, "soak-ping", true, "a round trip on every tunnel after each sample (checks they are alive)")
	flag.StringVar(&o.soakOut, "soak-out", "", "also write the soak's report to this file")
	flag.StringVar(&o.soakDoc, "soak-doc", "docs/benchmarks.md", "put the soak's report in this file's soak section (relative to -repo; `make bench` keeps it); empty: do not")
	flag.IntVar(&o.soakFDSlack, "soak-fd-slack", 8, "descriptors the second half may add (a pool of splice pipes filling up)")
	flag.Parse()

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	err := run(ctx, &o)
	bench.StopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

// raiseNoFile raises the soft descriptor limit to the hard one. Calling setrlimit explicitly
// also makes the children (mdmproxy, squid, haproxy, the origin) inherit the raised limit.
func raiseNoFile() (syscall.Rlimit, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return rl, err
	}
	rl.Cur = rl.Max
	err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl, err
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func lookBin(name string) string {
	if name == "" {
		return ""
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return p
}

func run(ctx context.Context, o *options) error {
	began := time.Now()
	rl, err := raiseNoFile()
	if err != nil {
		return fmt.Errorf("raising RLIMIT_NOFILE: %w", err)
	}
	need := uint64(2*o.idleN + 200)
	if rl.Cur < need {
		return fmt.Errorf("%d idle tunnels need about %d descriptors per process (the proxy holds two per tunnel) but the hard limit is %d: lower -idle-n or raise ulimit -Hn", o.idleN, need, rl.Cur)
	}
	if o.mdmproxy, err = filepath.Abs(o.mdmproxy); err != nil {
		return err
	}
	if _, err := os.Stat(o.mdmproxy); err != nil {
		return fmt.Errorf("%s: %w (make build)", o.mdmproxy, err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	work := o.work
	if work == "" {
		if work, err = os.MkdirTemp("", "mdmproxy-bench-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	logf("work directory %s, RLIMIT_NOFILE %d", work, rl.Cur)

	pki, err := bench.NewPKI(work)
	if err != nil {
		return err
	}
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	origin, ep, err := bench.StartOrigin(sctx, self, work, pki)
	scancel()
	if err != nil {
		return err
	}
	defer origin.Stop(3 * time.Second)
	logf("origins: plain %s, TLS %s", ep.PlainAddr, ep.TLSAddr)

	if o.soak {
		return soak(ctx, o, work, ep)
	}
	return benchmark(ctx, o, work, ep, began)
}

// proxies holds the running servers; a nil one is not running.
type proxies struct {
	mdm, squid, haproxy, relay, syslogDown *bench.Server
	chain                                  *bench.Server // mdmproxy with Squid as its upstream
	proxyProto                             *bench.Server // mdmproxy behind a PROXY protocol hop
}

// set records the server started for the proxy named n.
func (p *proxies) set(n string, s *bench.Server) {
	switch n {
	case "mdmproxy":
		p.mdm = s
	case "squid":
		p.squid = s
	case "haproxy":
		p.haproxy = s
	case "gorelay":
		p.relay = s
	case bench.SyslogDownName:
		p.syslogDown = s
	case bench.ChainName:
		p.chain = s
	case bench.ProxyProtoName:
		p.proxyProto = s
	}
}

func (p *proxies) stop() {
	p.mdm.Stop()
	p.squid.Stop()
	p.haproxy.Stop()
	p.relay.Stop()
	p.syslogDown.Stop()
	p.chain.Stop()
	p.proxyProto.Stop()
	*p = proxies{}
}

func startProxy(ctx context.Context, o *options, name, work string, ep *bench.Endpoints, maxFDs int, p *proxies) (*bench.Server, error) {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch name {
	case bench.ChainName:
		if p.squid == nil {
			return nil, fmt.Errorf("%s needs Squid started first", name)
		}
		return bench.StartMdmproxyChain(sctx, o.mdmproxy, work, p.squid.Addr)
	case "mdmproxy":
		return bench.StartMdmproxy(sctx, o.mdmproxy, work, ep)
	case bench.SyslogDownName:
		return bench.StartMdmproxySyslogDown(sctx, o.mdmproxy, work, ep)
	case bench.ProxyProtoName:
		return bench.StartMdmproxyProxyProto(sctx, o.mdmproxy, work, ep)
	case "squid":
		return bench.StartSquid(sctx, o.squid, work, ep, maxFDs)
	case "haproxy":
		return bench.StartHAProxy(sctx, o.haproxy, work, ep, maxFDs)
	case "gorelay":
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		return bench.StartRelay(sctx, self, work)
	}
	return nil, fmt.Errorf("unknown proxy %q", name)
}

// targets builds the targets; each proxy's address and pid are read through p, so a restarted
// proxy is picked up.
func targets(names []string, p *proxies, ep *bench.Endpoints) map[string]*bench.Target {
	ts := map[string]*bench.Target{"direct": bench.Direct(ep)}
	pidOf := func(s **bench.Server) func() int {
		return func() int {
			if *s == nil {
				return 0
			}
			return (*s).Proc.PID()
		}
	}
	for _, n := range names {
		switch n {
		case "mdmproxy":
			ts[n] = bench.ConnectProxy(n, "mdmproxy", func() string { return p.mdm.Addr }, ep, pidOf(&p.mdm))
		case "squid":
			ts[n] = bench.ConnectProxy(n, "Squid peek+splice", func() string { return p.squid.Addr }, ep, pidOf(&p.squid))
		case "haproxy":
			ts[n] = bench.Forwarder(n, "HAProxy tcp+splice (reference)", func() string { return p.haproxy.PlainAddr },
				func() string { return p.haproxy.TLSAddr }, pidOf(&p.haproxy))
		case "gorelay":
			ts[n] = bench.ConnectProxy(n, "Go CONNECT relay (reference)", func() string { return p.relay.Addr }, ep, pidOf(&p.relay))
		case bench.SyslogDownName:
			ts[n] = bench.ConnectProxy(n, "mdmproxy, syslog collector down", func() string { return p.syslogDown.Addr }, ep, pidOf(&p.syslogDown))
		case bench.ChainName:
			ts[n] = bench.ConnectProxy(n, "mdmproxy chained to Squid (upstream)", func() string { return p.chain.Addr }, ep, pidOf(&p.chain))
		case bench.ProxyProtoName:
			ts[n] = bench.ProxyProtoConnect(n, "mdmproxy behind PROXY protocol", func() string { return p.proxyProto.Addr }, ep, pidOf(&p.proxyProto))
		}
	}
	return ts
}

// rotate is names in the order of round r: each round starts one further along.
func rotate(names []string, r int) []string {
	n := len(names)
	out := make([]string, n)
	for i := range names {
		out[i] = names[(i+r)%n]
	}
	return out
}

func benchmark(ctx context.Context, o *options, work string, ep *bench.Endpoints, began time.Time) error {
	squidBin, haproxyBin := lookBin(o.squid), lookBin(o.haproxy)
	goBin := lookBin(o.goBin)
	rep := &bench.Report{
		Params: bench.Params{Rounds: o.rounds, IdleRounds: o.idleRounds, BulkRounds: o.bulkRounds, BulkBytes: int64(o.bulkMiB) << 20, BulkTunnels: o.bulkTunnels,
			SetupDuration: o.setupDur, SetupConcurrency: o.setupConc, IdleN: o.idleN, IdleHold: o.idleHold,
			BigRules: o.bigRules, ReloadTunnels: o.reloadTunnels, Reloads: o.reloads, ReloadEvery: o.reloadEvery, ReloadSteady: 2 * time.Second},
		Results: &bench.Results{},
	}
	if rep.Params.IdleRounds <= 0 {
		rep.Params.IdleRounds = o.rounds
	}
	if rep.Params.BulkRounds <= 0 {
		rep.Params.BulkRounds = o.rounds
	}
	rep.Machine = bench.DescribeMachine(goBin, o.mdmproxy, squidBin, haproxyBin)
	if squidBin != "" && !squidHasSSL(squidBin) {
		rep.Notes = append(rep.Notes, squidBin+" was built without OpenSSL (install squid-openssl): no Squid row.")
		squidBin = ""
	}
	if squidBin == "" && o.squid != "" {
		rep.Notes = append(rep.Notes, "Squid not found (bench/install.sh installs squid-openssl): no Squid column.")
	}
	if haproxyBin == "" && o.haproxy != "" {
		rep.Notes = append(rep.Notes, "HAProxy not found: no HAProxy column.")
	}
	o.squid, o.haproxy = squidBin, haproxyBin
	proxyNames := []string{"mdmproxy"}
	if squidBin != "" {
		proxyNames = append(proxyNames, "squid")
	}
	if haproxyBin != "" {
		proxyNames = append(proxyNames, "haproxy")
	}
	// The relay is a floor for set-up and a point of comparison for bulk; idle it is not
	// built for (a goroutine and a buffer per direction and no parking), so it sits that out.
	idleNames := slices.Clone(proxyNames)
	// mdmproxy behind a balancer's PROXY protocol header: an idle target only, to show the
	// header costs parked tunnels nothing (it is read, never wrapped around the connection).
	idleNames = append(idleNames, bench.ProxyProtoName)
	if o.relay {
		proxyNames = append(proxyNames, "gorelay")
	}
	all := append([]string{"direct"}, proxyNames...)
	// mdmproxy with its syslog collector down is a set-up target only: bulk and idle do not
	// emit events while they run.
	setupAll, started := all, proxyNames
	if o.syslogDown {
		setupAll = append(slices.Clone(all), bench.SyslogDownName)
		started = append(slices.Clone(proxyNames), bench.SyslogDownName)
	}
	// A CONNECT chained through mdmproxy to Squid, against the same CONNECT straight to Squid:
	// the cost of the extra hop in front of a school's filter. Set-up only; started after Squid.
	if squidBin != "" {
		setupAll = append(slices.Clone(setupAll), bench.ChainName)
		started = append(slices.Clone(started), bench.ChainName)
	}
	rep.Targets = append(rep.Targets, bench.TargetInfo{Name: "direct", Label: "direct"})
	var p proxies
	defer p.stop()
	ts := targets(append(slices.Clone(started), bench.ProxyProtoName), &p, ep)
	for _, n := range started {
		rep.Targets = append(rep.Targets, bench.TargetInfo{Name: n, Label: ts[n].Label})
	}
	want := map[string]bool{}
	for _, w := range strings.Split(o.only, ",") {
		want[strings.TrimSpace(w)] = true
	}
	if want["idle"] {
		rep.Targets = append(rep.Targets, bench.TargetInfo{Name: bench.ProxyProtoName, Label: ts[bench.ProxyProtoName].Label})
	}

	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	maxFDs := int(rl.Cur)

	if o.micro && goBin != "" {
		logf("Go micro-benchmarks (about 20 s)")
		rep.Micro = bench.RunMicro(ctx, goBin, o.repo)
		if rep.Micro.Err != nil {
			logf("micro-benchmarks failed: %v", rep.Micro.Err)
		}
	}

	res := rep.Results
	if want["plainhttp"] {
		stop, err := bench.StartHTTPOrigin(ep)
		if err != nil {
			return err
		}
		defer stop()
	}
	if want["bulk"] || want["setup"] || want["plainhttp"] {
		for _, n := range started {
			s, err := startProxy(ctx, o, n, work, ep, maxFDs, &p)
			if err != nil {
				return err
			}
			p.set(n, s)
			logf("%s running, pid %d", n, s.Proc.PID())
		}
		// Warm-up, not recorded: every path once, so that no round pays for first use.
		for _, n := range setupAll {
			bench.Setup(ctx, ts[n], ep, o.setupConc, 500*time.Millisecond)
			for _, k := range []bench.Kind{bench.Plain, bench.TLS} {
				if _, err := bench.Bulk(ctx, ts[n], ep, k, 1, 16<<20); err != nil {
					res.Errorf("warm-up %s %s: %v", n, k, err)
				}
			}
		}
	}

	if want["bulk"] {
		perOne := int64(o.bulkMiB) << 20
		perN := perOne / int64(max(o.bulkTunnels, 1))
		type bulkCase struct {
			metric  string
			k       bench.Kind
			tunnels int
			bytes   int64
		}
		cases := []bulkCase{
			{bench.MBulk1Plain, bench.Plain, 1, perOne},
			{bench.MBulk1TLS, bench.TLS, 1, perOne},
			{bench.MBulkNPlain, bench.Plain, o.bulkTunnels, perN},
			{bench.MBulkNTLS, bench.TLS, o.bulkTunnels, perN},
		}
		for r := range rep.Params.BulkRounds {
			for _, c := range cases {
				var line []string
				for _, n := range rotate(all, r) {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					br, err := bench.Bulk(ctx, ts[n], ep, c.k, c.tunnels, c.bytes)
					if err != nil {
						res.Errorf("%s round %d %s: %v", c.metric, r+1, n, err)
						continue
					}
					res.Add(c.metric, n, br.MBps())
					if n != "direct" {
						res.Add(bench.CPUMetric(c.metric), n, br.CPUPerGB())
						if !math.IsNaN(br.Kernel) {
							res.Add(bench.KernelMetric(c.metric), n, 100*br.Kernel)
						}
					}
					line = append(line, fmt.Sprintf("%s %.0f (cpu %.0f ms/GB)", n, br.MBps(), br.CPUPerGB()))
				}
				logf("round %d %-12s MB/s: %s", r+1, c.metric, strings.Join(line, ", "))
			}
		}
	}

	if want["setup"] {
		for r := range o.rounds {
			var line []string
			cpu := map[string]float64{} // this round's proxy CPU per tunnel, by target
			for _, n := range rotate(setupAll, r) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				sr := bench.Setup(ctx, ts[n], ep, o.setupConc, o.setupDur)
				if sr.Errors > 0 {
					res.Errorf("setup round %d %s: %d errors, first: %v", r+1, n, sr.Errors, sr.FirstErr)
				}
				if sr.Done == 0 {
					continue
				}
				res.Add(bench.MSetupRate, n, sr.Rate())
				res.Add(bench.MSetupP50, n, ms(sr.P50))
				res.Add(bench.MSetupP99, n, ms(sr.P99))
				if n != "direct" {
					res.Add(bench.MCPUSetup, n, sr.CPUPerTunnel())
					cpu[n] = sr.CPUPerTunnel()
					if !math.IsNaN(sr.Kernel) {
						res.Add(bench.MKernelSetup, n, 100*sr.Kernel)
					}
				}
				line = append(line, fmt.Sprintf("%s %.0f/s p50 %.2f p99 %.2f ms cpu %.0f µs", n, sr.Rate(), ms(sr.P50), ms(sr.P99), sr.CPUPerTunnel()))
			}
			pairCPU(res, cpu)
			logf("round %d set-up: %s", r+1, strings.Join(line, ", "))
		}
	}
	if want["plainhttp"] {
		plainHTTPRounds(ctx, o, ep, &p, res)
	}
	if want["setup"] || want["bulk"] {
		profileMdmproxy(ctx, o, goBin, work, ep, p.mdm, ts["mdmproxy"], rep)
	}
	p.stop()

	if want["idle"] {
		for r := range rep.Params.IdleRounds {
			for _, n := range rotate(idleNames, r) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// A fresh process each round: its baseline is a proxy that carried nothing yet.
				s, err := startProxy(ctx, o, n, work, ep, maxFDs, &p)
				if err != nil {
					res.Errorf("idle round %d %s: %v", r+1, n, err)
					continue
				}
				p.set(n, s)
				time.Sleep(300 * time.Millisecond)
				ir := bench.Idle(ctx, ts[n], ep, o.idleN, o.idleHold)
				p.stop()
				if ir.OpenErr != nil {
					res.Errorf("idle round %d %s: held %d of %d: %v", r+1, n, ir.Opened, ir.Want, ir.OpenErr)
				}
				if ir.CheckErr != nil {
					res.Errorf("idle round %d %s: %d of %d alive after the hold: %v", r+1, n, ir.Alive, ir.Opened, ir.CheckErr)
				}
				res.Add(bench.MIdleOpened, n, float64(ir.Opened))
				res.Add(bench.MIdleAlive, n, float64(ir.Alive))
				res.Add(bench.MIdleOpenS, n, ir.OpenTime.Seconds())
				if ir.Opened > 0 {
					res.Add(bench.MIdleFDs, n, ir.FDsPerTunnel())
					res.Add(bench.MIdleKiB, n, ir.KiBPerTunnel())
					res.Add(bench.MIdleKiBW, n, ir.KiBPerTunnelWoken())
				}
				logf("round %d idle %s: held %d/%d in %.1fs, alive %d; fds %d -> %d -> %d (%.2f/tunnel); RSS %d -> %d -> %d KiB (%.2f KiB/tunnel), %d KiB after the round trips (%.2f KiB/tunnel)",
					r+1, n, ir.Opened, ir.Want, ir.OpenTime.Seconds(), ir.Alive,
					ir.Before.FDs, ir.Opened0.FDs, ir.After.FDs, ir.FDsPerTunnel(),
					ir.Before.RSSKiB, ir.Opened0.RSSKiB, ir.After.RSSKiB, ir.KiBPerTunnel(), ir.Woken.RSSKiB, ir.KiBPerTunnelWoken())
			}
		}
	}

	if want["config"] && ctx.Err() == nil {
		if err := bigConfig(ctx, o, work, ep, rep); err != nil {
			res.Errorf("large configuration: %v", err)
		}
	}

	if want["transparent"] && ctx.Err() == nil {
		logf("transparent interception beside CONNECT (network namespaces)")
		rep.Transparent = transparentBench(ctx, o, work, ep.PKI, rep.Params.IdleRounds)
	}

	rep.Runtime = time.Since(began)
	rep.Machine.LoadEnd = bench.LoadAvg()
	if o.out != "" {
		path := o.out
		if !filepath.IsAbs(path) {
			path = filepath.Join(o.repo, path)
		}
		if old, err := os.ReadFile(path); err == nil {
			rep.Preserve = bench.ExtractDesignSection(string(old))
			rep.Soak = bench.ExtractSection(string(old), bench.SoakSection)
		}
		doc := rep.Markdown()
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			return err
		}
		logf("wrote %s", path)
	}
	fmt.Println(rep.Table())
	fmt.Println(rep.ChecksTable())
	if len(res.Errors) > 0 {
		fmt.Println("Errors:")
		for _, e := range res.Errors {
			fmt.Println("- " + e)
		}
	}
	fmt.Printf("Runtime: %s\n", rep.Runtime.Round(time.Second))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func squidHasSSL(bin string) bool {
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	return strings.Contains(string(out), "--with-openssl")
}

// pairCPU records, for one set-up round, mdmproxy's CPU per tunnel as a ratio to each other
// proxy's in the same round: pairing within a round cancels the machine's drift between rounds,
// which on a shared VM is larger than the differences being measured.
func pairCPU(res *bench.Results, cpu map[string]float64) {
	m, ok := cpu["mdmproxy"]
	if !ok {
		return
	}
	for other, v := range cpu {
		if other != "mdmproxy" && v > 0 {
			res.Add(bench.CPUSetupVs(other), "mdmproxy", m/v)
		}
	}
}

// plainHTTPRounds measures plain-HTTP requests per second directly, through mdmproxy (a rule
// allows the origin: decided and forwarded by goproxy) and through Squid as a forward proxy,
// with client keep-alive and with a new connection per request, in interleaved rounds.
func plainHTTPRounds(ctx context.Context, o *options, ep *bench.Endpoints, p *proxies, res *bench.Results) {
	via := map[string]**bench.Server{"mdmproxy": &p.mdm, "squid": &p.squid}
	names := []string{"direct", "mdmproxy"}
	if p.squid != nil {
		names = append(names, "squid")
	}
	for r := range o.httpRounds {
		for _, ka := range []bool{true, false} {
			metric := bench.MHTTPRateNew
			if ka {
				metric = bench.MHTTPRateKeepAlive
			}
			var line []string
			for _, n := range rotate(names, r) {
				if ctx.Err() != nil {
					return
				}
				addr, pid := "", func() int { return 0 }
				if s := via[n]; s != nil {
					srv := *s
					addr, pid = srv.Addr, srv.Proc.PID
				}
				hr := bench.PlainHTTP(ctx, ep, addr, pid, o.setupConc, o.setupDur, ka)
				if hr.Errors > 0 {
					res.Errorf("plain HTTP round %d %s keep-alive %v: %d errors, first: %v", r+1, n, ka, hr.Errors, hr.FirstErr)
				}
				if hr.Done > 0 {
					res.Add(metric, n, hr.Rate())
				}
				line = append(line, fmt.Sprintf("%s %.0f/s", n, hr.Rate()))
			}
			logf("round %d %s: %s", r+1, metric, strings.Join(line, ", "))
		}
	}
}
