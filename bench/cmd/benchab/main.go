// Command benchab compares builds of mdmproxy by the CPU they spend per tunnel set up, side by
// side: each build runs as its own process on the benchmark's configuration, and interleaved
// rounds of the set-up test (the one `make bench` runs) go through each in turn, with the Go
// CONNECT relay and Squid as references. It is the tool for deciding whether a change to the
// set-up path is worth keeping, not part of `make bench`.
//
//	benchab [-rounds 12] [-duration 3s] base=bin/mdmproxy cand=/tmp/mdmproxy-new ...
//
// A build is NAME=PATH; PATH may be a script that ends in `exec mdmproxy "$@"` (to set an
// environment variable, say). The first build is the baseline: every other target is reported
// as the median of its per-round differences from it, raw and normalised by the client's CPU
// per tunnel (the load generator runs the same code for every target, so its CPU per tunnel
// measures how fast the machine was in that round), each with a 95% bootstrap interval. It
// also gives each target's set-up latency (medians of the rounds' p50 and p99) and the paired
// difference of its p99 from the baseline's: -concurrency 1 shows what a change does to the
// latency of a lone client on idle CPUs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mdmproxy/mdmproxy/bench"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "origin":
			os.Exit(bench.RunOrigin(os.Args[2:]))
		case "relay":
			os.Exit(bench.RunRelay(os.Args[2:]))
		}
	}
	rounds := flag.Int("rounds", 12, "interleaved rounds")
	dur := flag.Duration("duration", 3*time.Second, "length of one set-up run")
	conc := flag.Int("concurrency", 16, "concurrent clients")
	squid := flag.Bool("squid", true, "measure Squid peek+splice too")
	relay := flag.Bool("relay", true, "measure the Go CONNECT relay too")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	err := run(ctx, flag.Args(), *rounds, *dur, *conc, *squid, *relay)
	bench.StopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchab:", err)
		os.Exit(1)
	}
}

type target struct {
	name string
	srv  *bench.Server
	t    *bench.Target
	cpu  []float64 // proxy µs per tunnel, by round
	cli  []float64 // client µs per tunnel, by round
	rate []float64
	p50  []float64 // set-up latency, ms, by round
	p99  []float64
}

func run(ctx context.Context, builds []string, rounds int, dur time.Duration, conc int, withSquid, withRelay bool) error {
	if len(builds) == 0 {
		return fmt.Errorf("no builds: give NAME=PATH arguments")
	}
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	rl.Cur = rl.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "mdmproxy-ab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	pki, err := bench.NewPKI(work)
	if err != nil {
		return err
	}
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	origin, ep, err := bench.StartOrigin(sctx, self, work, pki)
	if err != nil {
		return err
	}
	defer origin.Stop(3 * time.Second)

	var ts []*target
	defer func() {
		for _, t := range ts {
			t.srv.Stop()
		}
	}()
	for _, b := range builds {
		name, path, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("%q: want NAME=PATH", b)
		}
		if path, err = filepath.Abs(path); err != nil {
			return err
		}
		dir := filepath.Join(work, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		s, err := bench.StartMdmproxy(sctx, path, dir, ep)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		ts = append(ts, &target{name: name, srv: s})
	}
	if withRelay {
		s, err := bench.StartRelay(sctx, self, work)
		if err != nil {
			return err
		}
		ts = append(ts, &target{name: "gorelay", srv: s})
	}
	if withSquid {
		s, err := bench.StartSquid(sctx, "squid", work, ep, int(rl.Cur))
		if err != nil {
			return err
		}
		ts = append(ts, &target{name: "squid", srv: s})
	}
	for _, t := range ts {
		s := t.srv
		t.t = bench.ConnectProxy(t.name, t.name, func() string { return s.Addr }, ep, s.Proc.PID)
		bench.Setup(ctx, t.t, ep, conc, time.Second) // warm-up
	}
	for r := range rounds {
		var line []string
		for i := range ts {
			t := ts[(i+r)%len(ts)]
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c0 := selfCPU()
			sr := bench.Setup(ctx, t.t, ep, conc, dur)
			c1 := selfCPU()
			if sr.Done == 0 {
				return fmt.Errorf("%s: no tunnel completed: %v", t.name, sr.FirstErr)
			}
			t.cpu = append(t.cpu, sr.CPUPerTunnel())
			t.cli = append(t.cli, float64(c1-c0)/1e3/float64(sr.Done))
			t.rate = append(t.rate, sr.Rate())
			t.p50 = append(t.p50, float64(sr.P50)/1e6)
			t.p99 = append(t.p99, float64(sr.P99)/1e6)
			line = append(line, fmt.Sprintf("%s %.0f", t.name, sr.CPUPerTunnel()))
		}
		fmt.Fprintf(os.Stderr, "round %d µs/tunnel: %s\n", r+1, strings.Join(line, ", "))
	}
	report(ts)
	return nil
}

// selfCPU is this process's CPU (the load generator's) in nanoseconds.
func selfCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func report(ts []*target) {
	base := ts[0]
	var cbar float64 // the client's mean CPU per tunnel over every run: the normaliser
	var n int
	for _, t := range ts {
		for _, c := range t.cli {
			cbar += c
			n++
		}
	}
	cbar /= float64(n)
	fmt.Printf("%-10s %7s %7s %7s %6s %6s %20s %20s %22s %22s %20s\n", "target", "µs/tun", "client", "rate/s", "p50 ms", "p99 ms",
		"Δ vs "+base.name+" raw", "Δ normalised", base.name+"/this raw", base.name+"/this norm.", "Δ p99 ms")
	for _, t := range ts {
		var draw, dnorm, ratio, rraw, dp99 []float64
		for r := range min(len(t.cpu), len(base.cpu)) {
			draw = append(draw, t.cpu[r]-base.cpu[r])
			pt, pb := t.cpu[r]*cbar/t.cli[r], base.cpu[r]*cbar/base.cli[r]
			dnorm = append(dnorm, pt-pb)
			ratio = append(ratio, pb/pt) // base / t: how base compares with t
			rraw = append(rraw, base.cpu[r]/t.cpu[r])
			dp99 = append(dp99, t.p99[r]-base.p99[r])
		}
		fmt.Printf("%-10s %7.0f %7.0f %7.0f %6.2f %6.2f %20s %20s %22s %22s %20s\n", t.name, bench.Median(t.cpu), bench.Median(t.cli),
			bench.Median(t.rate), bench.Median(t.p50), bench.Median(t.p99), ci(draw, "%+.0f"), ci(dnorm, "%+.0f"), ci(rraw, "%.3f"), ci(ratio, "%.3f"), ci(dp99, "%+.2f"))
	}
}

func ci(vs []float64, f string) string {
	if len(vs) == 0 {
		return "-"
	}
	vs = slices.Clone(vs)
	lo, hi := bench.MedianCI(vs)
	return fmt.Sprintf(f+" ["+f+", "+f+"]", bench.Median(vs), lo, hi)
}
