package doctor

import (
	"context"
	"crypto/x509"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mdmproxy/mdmproxy/proxy"
)

// Defaults of the Checker's zero fields.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultConcurrency = 16
	DefaultTotal       = 2 * time.Minute
)

// Checker probes targets. The zero value uses DNS, the system's roots and the defaults above.
type Checker struct {
	// Hosts is the static name resolution the proxy uses (key hosts), tried before DNS.
	Hosts map[string][]netip.Addr
	// Lookup resolves what Hosts does not hold; nil means DNS.
	Lookup proxy.LookupFunc
	// Dial opens connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Roots verify certificates; nil means the system's trusted roots.
	Roots *x509.CertPool
	// Timeout bounds each step of a probe (resolve, connect, TLS handshake).
	Timeout time.Duration
	// Concurrency is how many probes run at once.
	Concurrency int
	// Total bounds the whole run; probes not started by then report a time-out. It is raised to
	// at least three Timeouts, so one probe can always finish.
	Total time.Duration
}

func (c *Checker) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// Run probes every target and returns one Result per target, in the targets' order.
func (c *Checker) Run(ctx context.Context, targets []Target) []Result {
	total := c.Total
	if total <= 0 {
		total = DefaultTotal
	}
	total = max(total, 3*c.timeout())
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	workers := c.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	workers = min(workers, len(targets))

	results := make([]Result, len(targets))
	next := make(chan int)
	names := &resolver{c: c}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go c.worker(ctx, names, targets, results, next, &wg)
	}
	for i := range targets {
		if ctx.Err() != nil {
			results[i] = notRun(targets[i])
			continue
		}
		select {
		case next <- i:
		case <-ctx.Done():
			results[i] = notRun(targets[i])
		}
	}
	close(next)
	wg.Wait()
	return results
}

// worker probes the targets whose indexes arrive on next.
func (c *Checker) worker(ctx context.Context, names *resolver, targets []Target, results []Result, next <-chan int, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := range next {
		if runOver(ctx) { // the total ran out while this index was being handed over
			results[i] = notRun(targets[i])
			continue
		}
		results[i] = c.probe(ctx, names, targets[i])
	}
}

// notRun is the result of a target the total time left no room for.
func notRun(t Target) Result {
	return Result{Rule: t.Rule, Name: t.Name, Port: t.Port, Probe: t.Probe, Result: ResultTimeout, Detail: totalRanOut}
}

// totalRanOut is the detail of a probe the doctor's total time stopped or never started.
const totalRanOut = "not checked to the end: the doctor's total time ran out"
