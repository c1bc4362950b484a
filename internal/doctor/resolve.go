package doctor

import (
	"context"
	"net/netip"
	"sync"

	"github.com/mdmproxy/mdmproxy/proxy"
)

// resolver resolves each name once per run, however many ports it is probed on, so that every
// port of a name sees the same answer and DNS gets one question per name.
type resolver struct {
	c     *Checker
	mu    sync.Mutex
	names map[string]*resolution
}

type resolution struct {
	done  chan struct{} // closed once addrs and err are set
	addrs []netip.Addr
	err   error
}

// resolve resolves name (hosts, then DNS, as the proxy does) within the Checker's Timeout.
// Concurrent callers for one name wait for the first one's answer.
func (r *resolver) resolve(ctx context.Context, name string) ([]netip.Addr, error) {
	r.mu.Lock()
	if r.names == nil {
		r.names = map[string]*resolution{}
	}
	res, ok := r.names[name]
	if !ok {
		res = &resolution{done: make(chan struct{})}
		r.names[name] = res
	}
	r.mu.Unlock()
	if ok {
		select {
		case <-res.done:
			return res.addrs, res.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	rctx, cancel := context.WithTimeout(ctx, r.c.timeout())
	res.addrs, res.err = proxy.Resolve(rctx, r.c.Hosts, r.c.Lookup, name)
	cancel()
	close(res.done)
	return res.addrs, res.err
}
