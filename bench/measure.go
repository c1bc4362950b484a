package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// BulkResult is one bulk transfer run.
type BulkResult struct {
	Bytes    int64
	Elapsed  time.Duration
	ProxyCPU time.Duration // CPU the proxy process used meanwhile; 0 for direct
	Kernel   float64       // the share of it spent in the kernel; NaN for direct
}

// CPUPerGB is the proxy's CPU milliseconds per GB (10^9 bytes) moved.
func (r BulkResult) CPUPerGB() float64 {
	return float64(r.ProxyCPU) / 1e6 / (float64(r.Bytes) / 1e9)
}

// MBps is the client-side throughput in MB/s (10^6 bytes).
func (r BulkResult) MBps() float64 { return float64(r.Bytes) / r.Elapsed.Seconds() / 1e6 }

// Bulk opens `tunnels` sessions of kind k through t (set-up not timed), then has each fetch
// perTunnel bytes at once; the clock runs from the first request to the last byte read.
func Bulk(ctx context.Context, t *Target, e *Endpoints, k Kind, tunnels int, perTunnel int64) (BulkResult, error) {
	ss := make([]*Session, tunnels)
	defer func() {
		for _, s := range ss {
			if s != nil {
				s.Close()
			}
		}
	}()
	for i := range ss {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := OpenSession(octx, t, e, k)
		cancel()
		if err != nil {
			return BulkResult{}, fmt.Errorf("%s: opening tunnel %d: %w", t.Name, i, err)
		}
		ss[i] = s
	}
	// A round trip on each first, so that every tunnel is spliced before the clock starts.
	for _, s := range ss {
		if err := s.Ping(time.Now().Add(10 * time.Second)); err != nil {
			return BulkResult{}, fmt.Errorf("%s: first round trip: %w", t.Name, err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, tunnels)
	start := make(chan struct{})
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			<-start
			s.raw.SetDeadline(time.Now().Add(2 * time.Minute))
			errs[i] = s.Fetch(perTunnel, buf)
		}()
	}
	cpu0 := markCPU(t)
	t0 := time.Now()
	close(start)
	wg.Wait()
	el := time.Since(t0)
	cpu, kernel := markCPU(t).since(cpu0)
	if err := errors.Join(errs...); err != nil {
		return BulkResult{}, fmt.Errorf("%s: bulk: %w", t.Name, err)
	}
	return BulkResult{Bytes: perTunnel * int64(tunnels), Elapsed: el, ProxyCPU: cpu, Kernel: kernel}, nil
}

// cpuMark is a reading of a proxy process's CPU counters: schedstat's nanoseconds, and the
// coarser user and kernel split of /proc/PID/stat. Zero for direct.
type cpuMark struct{ total, user, sys time.Duration }

func markCPU(t *Target) cpuMark {
	pid := t.PID()
	if pid == 0 {
		return cpuMark{}
	}
	var m cpuMark
	m.total, _ = ReadCPU(pid)
	m.user, m.sys, _ = ReadUserSys(pid)
	return m
}

// minTicks is the least user and kernel time, in /proc/PID/stat's 10 ms ticks, from which a
// kernel share is given: a bulk run of a fraction of a second counts a handful of ticks.
const minTicks = 50

// since is the CPU used from m0 to m, and the share of it spent in the kernel (NaN when too
// little was counted to tell).
func (m cpuMark) since(m0 cpuMark) (time.Duration, float64) {
	user, sys := m.user-m0.user, m.sys-m0.sys
	if user+sys < minTicks*time.Second/userHZ {
		return m.total - m0.total, math.NaN()
	}
	return m.total - m0.total, float64(sys) / float64(user+sys)
}

// SetupResult is one run of the set-up rate test.
type SetupResult struct {
	ProxyCPU time.Duration // CPU the proxy process used during the run; 0 for direct
	Kernel   float64       // the share of it spent in the kernel; NaN for direct
	Done     int
	Errors   int
	FirstErr error
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// CPUPerTunnel is the proxy's CPU microseconds per completed tunnel.
func (r SetupResult) CPUPerTunnel() float64 {
	if r.Done == 0 {
		return 0
	}
	return float64(r.ProxyCPU) / 1e3 / float64(r.Done)
}

// Rate is completed tunnels per second.
func (r SetupResult) Rate() float64 { return float64(r.Done) / r.Elapsed.Seconds() }

// Setup runs `conc` clients for dur, each opening a TLS tunnel through t (CONNECT, the 200,
// ClientHello and handshake), doing one round trip, and closing, again and again. Latency is
// from the dial to the answer of the round trip.
func Setup(ctx context.Context, t *Target, e *Endpoints, conc int, dur time.Duration) SetupResult {
	var wg sync.WaitGroup
	lats := make([][]time.Duration, conc)
	var nerr atomic.Int64
	var firstErr atomic.Pointer[error]
	cpu0 := markCPU(t)
	t0 := time.Now()
	end := t0.Add(dur)
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				s0 := time.Now()
				octx, cancel := context.WithTimeout(ctx, 10*time.Second)
				s, err := OpenSession(octx, t, e, TLS)
				cancel()
				if err == nil {
					err = s.Ping(time.Now().Add(10 * time.Second))
					if err == nil {
						lats[w] = append(lats[w], time.Since(s0))
					}
					s.Close()
				}
				if err != nil {
					nerr.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	r := SetupResult{Elapsed: time.Since(t0), Errors: int(nerr.Load())}
	r.ProxyCPU, r.Kernel = markCPU(t).since(cpu0)
	if p := firstErr.Load(); p != nil {
		r.FirstErr = *p
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	r.Done = len(all)
	r.P50, r.P99 = Quantile(all, 0.50), Quantile(all, 0.99)
	return r
}

// Quantile of sorted values (nearest rank).
func Quantile[T any](sorted []T, q float64) T {
	var zero T
	if len(sorted) == 0 {
		return zero
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// IdleResult is one run of the idle test.
type IdleResult struct {
	Want, Opened, Alive int
	OpenErr             error
	OpenTime            time.Duration
	Before, Opened0     Usage // the tunnel process before opening and right after
	After               Usage // after the hold, before the round trips
	Woken               Usage // right after a round trip on every tunnel at once
	CheckErr            error
}

// KiBPerTunnelWoken is KiBPerTunnel right after every tunnel carried a round trip at once:
// what the process keeps when a whole school's devices wake together.
func (r IdleResult) KiBPerTunnelWoken() float64 {
	if r.Opened == 0 {
		return 0
	}
	return float64(r.Woken.RSSKiB-r.Before.RSSKiB) / float64(r.Opened)
}

// FDsPerTunnel is the descriptors the carrying process gained per tunnel held.
func (r IdleResult) FDsPerTunnel() float64 {
	if r.Opened == 0 {
		return 0
	}
	return float64(r.After.FDs-r.Before.FDs) / float64(r.Opened)
}

// KiBPerTunnel is the RSS the carrying process gained per tunnel held.
func (r IdleResult) KiBPerTunnel() float64 {
	if r.Opened == 0 {
		return 0
	}
	return float64(r.After.RSSKiB-r.Before.RSSKiB) / float64(r.Opened)
}

// IdleSet is a set of open TLS tunnels.
type IdleSet struct {
	Sessions []*Session
}

// OpenIdle opens n TLS tunnels through t with `conc` openers, each doing one round trip. It
// stops at the first failure (a proxy that cannot hold more) and returns what it opened.
func OpenIdle(ctx context.Context, t *Target, e *Endpoints, n, conc int) (*IdleSet, error) {
	set := &IdleSet{Sessions: make([]*Session, n)}
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				octx, cancel := context.WithTimeout(ctx, 20*time.Second)
				s, err := OpenSession(octx, t, e, TLS)
				cancel()
				if err == nil {
					if err = s.Ping(time.Now().Add(20 * time.Second)); err != nil {
						s.Close()
					}
				}
				if err != nil {
					err = fmt.Errorf("tunnel %d: %w", i, err)
					failed.CompareAndSwap(nil, &err)
					return
				}
				set.Sessions[i] = s
			}
		}()
	}
	wg.Wait()
	set.Sessions = slices.DeleteFunc(set.Sessions, func(s *Session) bool { return s == nil })
	if p := failed.Load(); p != nil {
		return set, *p
	}
	return set, ctx.Err()
}

// CheckAlive does a round trip on every tunnel and returns how many answered.
func (set *IdleSet) CheckAlive(conc int) (int, error) {
	var alive atomic.Int64
	var firstErr atomic.Pointer[error]
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(set.Sessions) {
					return
				}
				if err := set.Sessions[i].Ping(time.Now().Add(20 * time.Second)); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				alive.Add(1)
			}
		}()
	}
	wg.Wait()
	var err error
	if p := firstErr.Load(); p != nil {
		err = *p
	}
	return int(alive.Load()), err
}

// Close closes every tunnel.
func (set *IdleSet) Close() {
	var wg sync.WaitGroup
	ch := make(chan *Session)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range ch {
				s.Close()
			}
		}()
	}
	for _, s := range set.Sessions {
		ch <- s
	}
	close(ch)
	wg.Wait()
}

// Idle opens n idle TLS tunnels through t, reads the carrying process's usage before and after,
// holds them for `hold`, reads again and checks every tunnel with a round trip. The tunnels are
// closed before it returns.
func Idle(ctx context.Context, t *Target, e *Endpoints, n int, hold time.Duration) IdleResult {
	r := IdleResult{Want: n}
	pid := t.PID()
	r.Before, _ = ReadUsage(pid)
	t0 := time.Now()
	set, err := OpenIdle(ctx, t, e, n, 32)
	defer set.Close()
	r.OpenTime = time.Since(t0)
	r.Opened, r.OpenErr = len(set.Sessions), err
	r.Opened0, _ = ReadUsage(pid)
	select {
	case <-time.After(hold):
	case <-ctx.Done():
	}
	r.After, _ = ReadUsage(pid)
	r.Alive, r.CheckErr = set.CheckAlive(64)
	r.Woken, _ = ReadUsage(pid)
	return r
}
