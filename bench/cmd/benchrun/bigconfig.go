package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/mdmproxy/mdmproxy/bench"
)

// bigConfig measures a large configuration: how long mdmproxy takes to load it (a fresh
// `mdmproxy validate` each round), and whether reloading it stalls open tunnels (a proxy
// started on it, round trips kept going on open TLS tunnels, SIGHUP sent again and again).
func bigConfig(ctx context.Context, o *options, work string, ep *bench.Endpoints, rep *bench.Report) error {
	res := rep.Results
	p := rep.Params
	cfg, err := bench.WriteBigConfig(work, ep, p.BigRules)
	if err != nil {
		return err
	}
	for r := range o.rounds {
		d, err := bench.ValidateTime(ctx, o.mdmproxy, cfg)
		if err != nil {
			return err
		}
		res.Add(bench.MBigLoad, "mdmproxy", d.Seconds())
		logf("round %d: mdmproxy validate of %d rules: %.3fs", r+1, p.BigRules, d.Seconds())
	}

	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	srv, err := bench.StartMdmproxyBig(sctx, o.mdmproxy, work, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer srv.Stop()
	t := bench.ConnectProxy("mdmproxy", "mdmproxy", func() string { return srv.Addr }, ep, srv.Proc.PID)
	rr, err := bench.ReloadUnderLoad(ctx, srv, t, ep, p.ReloadTunnels, p.Reloads, p.ReloadEvery, p.ReloadSteady)
	if err != nil {
		return err
	}
	if rr.Reloads < p.Reloads {
		return fmt.Errorf("only %d of %d reloads ran", rr.Reloads, p.Reloads)
	}
	if rr.FirstErr != nil {
		res.Errorf("reload under load: %d tunnels failed, first: %v", rr.Failed, rr.FirstErr)
	}
	for _, d := range rr.ReloadTimes {
		res.Add(bench.MBigReload, "mdmproxy", d.Seconds())
	}
	// addQ records a quantile of ds; nothing when there are no samples.
	addQ := func(metric string, ds []time.Duration, f float64) {
		if len(ds) > 0 {
			res.Add(metric, "mdmproxy", ms(bench.Quantile(ds, f)))
		}
	}
	addQ(bench.MRTSteadyP50, rr.Steady, 0.5)
	addQ(bench.MRTSteadyP99, rr.Steady, 0.99)
	addQ(bench.MRTSteadyMax, rr.Steady, 1)
	addQ(bench.MRTReloadP50, rr.During, 0.5)
	addQ(bench.MRTReloadP99, rr.During, 0.99)
	addQ(bench.MRTReloadMax, rr.During, 1)
	res.Add(bench.MReloadGap, "mdmproxy", ms(rr.LongestGap))
	res.Add(bench.MReloadRTs, "mdmproxy", float64(len(rr.During)))
	res.Add(bench.MReloadFailed, "mdmproxy", float64(rr.Failed))
	res.Add(bench.MReloadAlive, "mdmproxy", float64(rr.Alive))
	q := func(ds []time.Duration, f float64) float64 {
		if len(ds) == 0 {
			return math.NaN()
		}
		return ms(bench.Quantile(ds, f))
	}
	logf("reload under load: %d reloads of %d rules (%v), %d tunnels; round trip p50/p99/max steady %.2f/%.2f/%.2f ms (%d), during reloads %.2f/%.2f/%.2f ms (%d); longest gap %.1f ms; %d failed; %d/%d alive",
		rr.Reloads, p.BigRules, rr.ReloadTimes, rr.Tunnels,
		q(rr.Steady, 0.5), q(rr.Steady, 0.99), q(rr.Steady, 1), len(rr.Steady),
		q(rr.During, 0.5), q(rr.During, 0.99), q(rr.During, 1), len(rr.During),
		ms(rr.LongestGap), rr.Failed, rr.Alive, rr.Tunnels)
	return nil
}
