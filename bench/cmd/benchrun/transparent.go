package main

import (
	"context"
	"os"
	"time"

	"github.com/mdmproxy/mdmproxy/bench"
)

// transparentBench measures intercepted tunnels beside CONNECT ones in the namespaces of
// bench.TransparentLab, with the run's bulk size, set-up length and idle count, and returns the
// report's section. Without root (no namespaces) the section says so instead.
func transparentBench(ctx context.Context, o *options, work string, pki *bench.PKI, rounds int) string {
	self, err := os.Executable()
	if err != nil {
		return "Not measured: " + err.Error() + "\n"
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	lab, err := bench.StartTransparentLab(sctx, self, o.mdmproxy, work, pki, 2*o.setupConc)
	cancel()
	if err != nil {
		logf("transparent: %v", err)
		return "Not measured: " + err.Error() + "\n"
	}
	defer lab.Close()
	logf("transparent: lab up (origins %s, %s)", lab.Endpoints.PlainAddr, lab.Endpoints.TLSAddr)
	res := bench.MeasureTransparent(ctx, lab, rounds, int64(o.bulkMiB)<<20, o.setupConc, o.setupDur, o.idleN, o.idleHold)
	for _, r := range res.Rows {
		logf("transparent %s: bulk %v MB/s, set-up %v/s, idle %v fds and %v KiB per tunnel; errors %v",
			r.Label, r.BulkMBps, r.SetupRate, r.IdleFDs, r.IdleKiB, r.Errors)
	}
	return res.Markdown()
}
