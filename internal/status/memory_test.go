package status

import (
	"fmt"
	"io"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/proxy"
)

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// refuseDistinct feeds n refusals of distinct targets from distinct clients through Emit, as
// the proxy's event stream would, spread over a day so every bucket of both windows fills.
func refuseDistinct(o *Observer, clock *time.Time, offset, n int) {
	e := &events.Event{Action: events.ActionDeny, Reason: "no_rule", DestPort: 443}
	for i := range n {
		e.SourceIP = addrN(offset + i)
		e.DestDomain = fmt.Sprintf("refused-%d.example.com", offset+i)
		o.Emit(e)
		if i%1000 == 999 {
			o.Flush()
			*clock = clock.Add(time.Minute) // 100,000 refusals span 100,000/1000 minutes: over a day
		}
	}
	o.Flush()
}

// TestObserverMemoryBounded: 100,000 distinct refused targets fill the statistics to their
// bound, and 100,000 more do not make them grow. Under the race detector 25,000 each, still
// seven times what the statistics can hold.
func TestObserverMemoryBounded(t *testing.T) {
	n := 100000
	if raceEnabled {
		n = 25000
	}
	clock := testNow
	base := heapInUse()
	o := newObserver(func() time.Time { return clock })
	refuseDistinct(o, &clock, 0, n)
	first := heapInUse()
	refuseDistinct(o, &clock, n, n)
	second := heapInUse()
	runtime.KeepAlive(o)

	used := int64(first) - int64(base)
	growth := int64(second) - int64(first)
	t.Logf("observer after %d distinct refused targets: %d KiB; after %d more: %+d KiB", n, used>>10, n, growth>>10)
	// 36 buckets of 100 targets, each under 1 KiB with its client sketch, plus the queue.
	const bound = 8 << 20
	if used > bound {
		t.Errorf("the observer holds %d KiB after %d distinct targets, over %d KiB", used>>10, n, bound>>10)
	}
	if growth > 1<<20 {
		t.Errorf("%d more distinct targets grew the observer by %d KiB", n, growth>>10)
	}
	if hour, day, _ := o.report(clock); len(hour) != topRefusals || len(day) != topRefusals {
		t.Errorf("%d and %d refusals reported, want %d each", len(hour), len(day), topRefusals)
	}
}

// tenThousandTunnels is a registry of 10,000 open tunnels from 5,000 clients.
func tenThousandTunnels() []proxy.TunnelInfo {
	ts := make([]proxy.TunnelInfo, 10000)
	for i := range ts {
		ts[i] = proxy.TunnelInfo{Client: addrN(i / 2), Rule: "apple-push/courier", Persistent: true,
			Destination: "courier.push.apple.com:5223", Started: testNow.Add(-time.Duration(i) * time.Second), SourceBytes: int64(i), DestBytes: int64(2 * i)}
	}
	return ts
}

// BenchmarkObserverEmit is what the data path pays per event for the status page: a copy of a
// few fields into the bounded queue (the drain, on the observer's goroutine, is not timed).
func BenchmarkObserverEmit(b *testing.B) {
	o := newObserver(func() time.Time { return testNow })
	e := &events.Event{Action: events.ActionDeny, Reason: "no_rule", SourceIP: netip.MustParseAddr("10.0.0.1"), DestDomain: "example.com", DestPort: 443}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		o.Emit(e)
		if i%queueSize == queueSize-1 {
			b.StopTimer()
			o.Flush()
			b.StartTimer()
		}
	}
}

// BenchmarkObserver100kRefused: the observer's heap after 100,000 distinct refused targets
// (heap-bytes), and the time to take them in.
func BenchmarkObserver100kRefused(b *testing.B) {
	var held uint64
	for b.Loop() {
		clock := testNow
		base := heapInUse()
		o := newObserver(func() time.Time { return clock })
		refuseDistinct(o, &clock, 0, 100000)
		held = heapInUse() - base
		runtime.KeepAlive(o)
	}
	b.ReportMetric(float64(held), "heap-bytes")
}

// BenchmarkStatusJSON10kTunnels: /status.json with 10,000 open tunnels, read from the registry
// at request time (B/op is the request's whole allocation).
func BenchmarkStatusJSON10kTunnels(b *testing.B) {
	benchmarkGet(b, "/status.json")
}

// BenchmarkStatusPage10kTunnels: the HTML page with 10,000 open tunnels (it lists 500).
func BenchmarkStatusPage10kTunnels(b *testing.B) {
	benchmarkGet(b, "/")
}

func benchmarkGet(b *testing.B, path string) {
	p := &Page{Tunnels: fakeTunnels(tenThousandTunnels()), obs: newObserver(func() time.Time { return testNow }), now: func() time.Time { return testNow }}
	clock := testNow
	refuseDistinct(p.obs, &clock, 0, 10000)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		size = rec.Body.Len()
		io.Discard.Write(rec.Body.Bytes())
	}
	b.ReportMetric(float64(size), "body-bytes")
}
