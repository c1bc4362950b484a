package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BigRules is n allowlist rules in YAML, in the shape of allowlist's BenchmarkDecide policy:
// ten domains each (half of them wildcards), one CIDR each (IPv4 /24 and IPv6 /48 in turn),
// ports 443 and 5223. At n = 10,000 that is 100,000 domains and 10,000 CIDRs in about 4 MB.
// None of them matches the origins' names or loopback.
func BigRules(n int) string {
	var b strings.Builder
	b.Grow(n * 420)
	for i := range n {
		fmt.Fprintf(&b, "  - name: big-%d\n    domains: [", i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			if j%2 == 0 {
				fmt.Fprintf(&b, `"*.svc%d-%d.vendor%d.example"`, j, i, i%97)
			} else {
				fmt.Fprintf(&b, `"host%d-%d.vendor%d.example"`, j, i, i%97)
			}
		}
		if i%2 == 0 {
			fmt.Fprintf(&b, "]\n    cidrs: [%d.%d.%d.0/24]\n", 20+i%200, (i/256)%256, i%256)
		} else {
			fmt.Fprintf(&b, "]\n    cidrs: [\"2001:db8:%x::/48\"]\n", i)
		}
		b.WriteString("    ports: [443, 5223]\n")
	}
	return b.String()
}

// BigConfig is MdmproxyConfig with n more rules after the suite's two.
func BigConfig(e *Endpoints, eventsPath string, n int) string {
	base := MdmproxyConfig(e, eventsPath)
	i := strings.Index(base, "default_action:")
	return base[:i] + BigRules(n) + base[i:]
}

// WriteBigConfig writes BigConfig into the configuration directory under dir (see
// writeConfig) and returns its path.
func WriteBigConfig(dir string, e *Endpoints, n int) (string, error) {
	return writeConfig(dir, fmt.Sprintf("mdmproxy-%drules.yaml", n), BigConfig(e, filepath.Join(dir, "mdmproxy-big-events.json"), n))
}

// ValidateTime is the wall time of `mdmproxy validate --config cfg`: a fresh process that
// reads, checks and compiles the configuration, as a start or a reload does.
func ValidateTime(ctx context.Context, bin, cfg string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, bin, "validate", "--config", cfg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return d, fmt.Errorf("mdmproxy validate: %w: %s", err, tail(out.String(), 500))
	}
	return d, nil
}

// StartMdmproxyBig starts mdmproxy on the configuration at cfg (from WriteBigConfig).
func StartMdmproxyBig(ctx context.Context, bin, dir, cfg string) (*Server, error) {
	return startMdmproxy(ctx, []string{bin}, cfg, filepath.Join(dir, "mdmproxy-big.log"))
}

// ReloadResult is what ReloadUnderLoad saw.
type ReloadResult struct {
	Tunnels, Reloads int
	ReloadTimes      []time.Duration // SIGHUP to the "configuration reloaded" line, each reload
	// Round trips of the open tunnels, split by whether they overlapped a reload.
	Steady, During []time.Duration
	// LongestGap is the longest time any tunnel went without an answer while a reload ran
	// (from the reload's start, or its previous answer, to its next answer). It includes the
	// pause between round trips, so a tunnel that never waited scores about that pause.
	LongestGap time.Duration
	Failed     int   // tunnels whose round trip failed (each stops at its first failure)
	FirstErr   error // the first of them, or a reload that did not finish
	Alive      int   // tunnels that answered after the last reload
}

// reloadWindow is when one reload ran.
type reloadWindow struct{ start, end time.Time }

// rtSample is one round trip of one tunnel.
type rtSample struct {
	tunnel     int
	start, end time.Time
}

// ReloadUnderLoad opens `tunnels` TLS tunnels through the mdmproxy in srv, keeps a round trip
// going on each every `every`, and after `steady` of that sends SIGHUP `reloads` times, each
// after the previous one's "configuration reloaded" line and a pause. It reports how the round
// trips fared while the reloads ran against the time before and between them.
func ReloadUnderLoad(ctx context.Context, srv *Server, t *Target, e *Endpoints, tunnels, reloads int, every, steady time.Duration) (ReloadResult, error) {
	r := ReloadResult{Tunnels: tunnels}
	set, err := OpenIdle(ctx, t, e, tunnels, 8)
	defer set.Close()
	if err != nil {
		return r, fmt.Errorf("opening the tunnels: %w", err)
	}

	var mu sync.Mutex
	var samples []rtSample
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range set.Sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				t0 := time.Now()
				err := s.Ping(t0.Add(10 * time.Second))
				t1 := time.Now()
				mu.Lock()
				if err != nil {
					r.Failed++
					if r.FirstErr == nil {
						r.FirstErr = fmt.Errorf("tunnel %d: %w", i, err)
					}
					mu.Unlock()
					return // a tunnel that failed once is counted once
				}
				samples = append(samples, rtSample{tunnel: i, start: t0, end: t1})
				mu.Unlock()
			}
		}()
	}

	var windows []reloadWindow
	sleepCtx(ctx, steady)
	for range reloads {
		if ctx.Err() != nil {
			break
		}
		before := countLines(srv.Proc.LogPath, "configuration reloaded")
		w := reloadWindow{start: time.Now()}
		if err := syscall.Kill(srv.Proc.PID(), syscall.SIGHUP); err != nil {
			close(stop)
			wg.Wait()
			return r, err
		}
		deadline := time.Now().Add(30 * time.Second)
		for countLines(srv.Proc.LogPath, "configuration reloaded") == before {
			if time.Now().After(deadline) || ctx.Err() != nil {
				close(stop)
				wg.Wait()
				return r, fmt.Errorf("reload %d did not finish in 30s:\n%s", len(windows)+1, srv.Proc.Tail())
			}
			time.Sleep(2 * time.Millisecond)
		}
		w.end = time.Now()
		windows = append(windows, w)
		r.ReloadTimes = append(r.ReloadTimes, w.end.Sub(w.start))
		sleepCtx(ctx, steady/2)
	}
	close(stop)
	wg.Wait()
	r.Reloads = len(windows)

	for _, sm := range samples {
		overlaps := slices.ContainsFunc(windows, func(w reloadWindow) bool {
			return sm.start.Before(w.end) && sm.end.After(w.start)
		})
		if overlaps {
			r.During = append(r.During, sm.end.Sub(sm.start))
		} else {
			r.Steady = append(r.Steady, sm.end.Sub(sm.start))
		}
	}
	r.LongestGap = longestGap(samples, windows, tunnels)
	slices.Sort(r.Steady)
	slices.Sort(r.During)
	r.Alive, _ = set.CheckAlive(8)
	return r, nil
}

// longestGap is, over every reload window and tunnel, the longest wait for an answer that
// overlapped the window: from the window's start or the tunnel's previous answer (whichever
// is later) to the tunnel's next answer.
func longestGap(samples []rtSample, windows []reloadWindow, tunnels int) time.Duration {
	answers := make([][]time.Time, tunnels)
	for _, s := range samples {
		answers[s.tunnel] = append(answers[s.tunnel], s.end)
	}
	var worst time.Duration
	for _, ends := range answers {
		slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
		for _, w := range windows {
			from := w.start
			for _, end := range ends {
				if !end.After(from) {
					continue
				}
				worst = max(worst, end.Sub(from))
				from = end
				if end.After(w.end) {
					break
				}
			}
		}
	}
	return worst
}

func countLines(path, substr string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte(substr))
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
