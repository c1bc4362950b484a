package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mdmproxy/mdmproxy/bench"
)

// profileMdmproxy profiles the running mdmproxy under the set-up load and under plain bulk
// through one tunnel, through its /debug/pprof/profile, after the measured rounds (so the
// profiler does not slow them), and puts a summary of each in the report: where the time goes
// is the explanation of the ratios.
func profileMdmproxy(ctx context.Context, o *options, goBin, work string, ep *bench.Endpoints, srv *bench.Server, t *bench.Target, rep *bench.Report) {
	if srv == nil || srv.AdminAddr == "" || goBin == "" {
		return
	}
	const seconds = 5 // at 100 Hz and the fraction of a core the proxy uses, a few hundred samples
	runs := []struct {
		label, file string
		load        func(context.Context) error
	}{
		{fmt.Sprintf("Tunnel set-up, concurrency %d", o.setupConc), "mdmproxy-setup.prof", func(ctx context.Context) error {
			r := bench.Setup(ctx, t, ep, o.setupConc, seconds*time.Second+time.Second)
			return r.FirstErr
		}},
		{"Bulk, 1 tunnel, plain", "mdmproxy-bulk-plain.prof", func(ctx context.Context) error {
			_, err := bench.Bulk(ctx, t, ep, bench.Plain, 1, 10<<30) // longer than the profile at up to 2 GB/s
			return err
		}},
	}
	for _, r := range runs {
		if ctx.Err() != nil {
			return
		}
		pr := bench.ProfileRun{Label: r.label}
		done := make(chan error, 1)
		go func() { done <- r.load(ctx) }()
		time.Sleep(300 * time.Millisecond) // under way before the profile starts
		path := filepath.Join(work, r.file)
		err := bench.FetchProfile(ctx, srv.AdminAddr, seconds, path)
		if lerr := <-done; lerr != nil && err == nil {
			err = fmt.Errorf("the load: %w", lerr)
		}
		if err == nil {
			pr.Summary, err = bench.SummarizeProfile(ctx, goBin, path, 8)
		}
		pr.Err = err
		if err != nil {
			logf("profile %s: %v", r.label, err)
		} else {
			logf("profile %s: %.2fs of samples, %.0f%% in system calls (%s)", r.label, pr.Summary.Total, pr.Summary.ByCategory[bench.CatSyscalls], path)
		}
		rep.Profiles = append(rep.Profiles, pr)
	}
}
