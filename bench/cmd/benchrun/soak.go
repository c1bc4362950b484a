package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mdmproxy/mdmproxy/bench"
)

// soak holds -idle-n TLS tunnels through one mdmproxy for -soak-duration, reading its RSS and
// descriptors every -soak-interval and (with -soak-ping) doing a round trip on every tunnel
// after each reading. Growth is judged on the trend: the peak of the second half of the
// readings against the peak of the first.
func soak(ctx context.Context, o *options, work string, ep *bench.Endpoints) error {
	p := &proxies{}
	defer p.stop()
	s, err := startProxy(ctx, o, "mdmproxy", work, ep, 0, p)
	if err != nil {
		return err
	}
	p.mdm = s
	t := targets([]string{"mdmproxy"}, p, ep)["mdmproxy"]
	pid := s.Proc.PID()
	time.Sleep(300 * time.Millisecond)
	base, _ := bench.ReadUsage(pid)
	logf("soak: mdmproxy pid %d, %d KiB RSS, %d descriptors; opening %d TLS tunnels", pid, base.RSSKiB, base.FDs, o.idleN)
	t0 := time.Now()
	set, err := bench.OpenIdle(ctx, t, ep, o.idleN, 32)
	defer set.Close()
	if err != nil {
		return fmt.Errorf("held %d of %d tunnels: %w", len(set.Sessions), o.idleN, err)
	}
	logf("soak: %d tunnels open in %.1fs; holding for %s", len(set.Sessions), time.Since(t0).Seconds(), o.soakDur)

	type sample struct {
		at    time.Duration
		u     bench.Usage
		alive int
	}
	var samples []sample
	u0, _ := bench.ReadUsage(pid)
	samples = append(samples, sample{0, u0, len(set.Sessions)})
	start := time.Now()
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%d idle TLS tunnels through one mdmproxy (%s) for %s, on %s, %d CPUs; run on %s.\n",
		bench.SoakSection, len(set.Sessions), firstLine(o.mdmproxy, "version"), o.soakDur, cpuModel(), runtime.NumCPU(),
		time.Now().UTC().Format("2006-01-02 15:04 MST"))
	b.WriteString("\n")
	fmt.Fprintf(&b, "Before the tunnels: %d KiB RSS, %d descriptors. Readings every %s", base.RSSKiB, base.FDs, o.soakInterval)
	if o.soakPing {
		b.WriteString(", each followed by a round trip on every tunnel")
	}
	b.WriteString(".\n\n| Time | RSS (KiB) | Descriptors | RSS per tunnel (KiB) | Alive |\n|---:|---:|---:|---:|---:|\n")
	row := func(s sample) string {
		return fmt.Sprintf("| %s | %d | %d | %.2f | %d |\n", s.at.Round(time.Second), s.u.RSSKiB, s.u.FDs,
			float64(s.u.RSSKiB-base.RSSKiB)/float64(len(set.Sessions)), s.alive)
	}
	b.WriteString(row(samples[0]))
	fmt.Print(b.String())
	for time.Since(start) < o.soakDur && ctx.Err() == nil {
		wait := o.soakInterval - time.Since(start)%o.soakInterval
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		if ctx.Err() != nil || s.Proc.Exited() {
			break
		}
		u, err := bench.ReadUsage(pid)
		if err != nil {
			return err
		}
		sm := sample{at: time.Since(start), u: u, alive: -1}
		if o.soakPing {
			sm.alive, _ = set.CheckAlive(64)
		}
		samples = append(samples, sm)
		fmt.Print(row(sm))
		b.WriteString(row(sm))
	}
	if s.Proc.Exited() {
		return fmt.Errorf("mdmproxy exited during the soak:\n%s", s.Proc.Tail())
	}
	last := samples[len(samples)-1]
	alive, err := set.CheckAlive(64)
	n := len(set.Sessions)
	// Growth is a trend, not the garbage collector's sawtooth or a pool filling up: the peak
	// of the second half against the peak of the first half (which includes the warm-up).
	var first, second bench.Usage
	for _, sm := range samples {
		h := &first
		if sm.at > o.soakDur/2 {
			h = &second
		}
		h.RSSKiB = max(h.RSSKiB, sm.u.RSSKiB)
		h.FDs = max(h.FDs, sm.u.FDs)
	}
	rssGrowth := second.RSSKiB - first.RSSKiB
	fdGrowth := second.FDs - first.FDs
	tol := max(first.RSSKiB/50, 1024)
	verdict := "no growth"
	switch {
	case len(samples) < 4:
		verdict = "too short to tell"
	case fdGrowth > o.soakFDSlack || rssGrowth > tol || alive != n:
		verdict = "**GROWTH or LOSS**"
	}
	summary := fmt.Sprintf("\nFrom the first reading to the last (%s): RSS %+d KiB, descriptors %+d.\n"+
		"Peak of the second half against the peak of the first: RSS %+d KiB (%+.3f KiB per tunnel), descriptors %+d; "+
		"%d of %d tunnels alive at the end: %s (tolerance: RSS %d KiB, descriptors %d).\n",
		last.at.Round(time.Second), last.u.RSSKiB-samples[0].u.RSSKiB, last.u.FDs-samples[0].u.FDs,
		rssGrowth, float64(rssGrowth)/float64(n), fdGrowth, alive, n, verdict, tol, o.soakFDSlack)
	if err != nil {
		summary += fmt.Sprintf("First failed round trip: %v\n", err)
	}
	fmt.Print(summary)
	b.WriteString(summary)
	if o.soakOut != "" {
		if err := os.WriteFile(o.soakOut, []byte(b.String()), 0o644); err != nil {
			return err
		}
		logf("wrote %s", o.soakOut)
	}
	if o.soakDoc != "" {
		path := o.soakDoc
		if !filepath.IsAbs(path) {
			path = filepath.Join(o.repo, path)
		}
		old, _ := os.ReadFile(path) // none yet: the section starts the file
		if err := os.WriteFile(path, []byte(bench.ReplaceSection(string(old), bench.SoakSection, b.String())), 0o644); err != nil {
			return err
		}
		logf("wrote the soak section of %s", path)
	}
	if strings.Contains(verdict, "GROWTH") {
		return fmt.Errorf("soak: %s", verdict)
	}
	return nil
}

func firstLine(bin string, args ...string) string {
	out, _ := exec.Command(bin, args...).Output()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
