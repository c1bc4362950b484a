package events

import (
	"io"
	"net/netip"
	"testing"
	"time"
)

// benchEvent is a typical decision: ten fields set.
func benchEvent() *Event {
	return &Event{
		Time:       time.Date(2026, 11, 23, 18, 0, 0, 123456789, time.UTC),
		Action:     ActionSplice,
		Reason:     "rule",
		SourceIP:   netip.MustParseAddr("10.20.30.40"),
		SourcePort: 51234,
		DestDomain: "courier.push.apple.com",
		DestIP:     netip.MustParseAddr("17.57.146.20"),
		DestPort:   5223,
		SNI:        "courier.push.apple.com",
		Rule:       "apple-push",
	}
}

func BenchmarkEncodeJSON(b *testing.B) {
	enc := NewJSONEncoder("gw1.school.lan")
	e := benchEvent()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.AppendEvent(buf[:0], e)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkEmit measures the data path's cost: encode and enqueue. The
// dropped/op metric is what one producer spinning on Emit does to a drain
// goroutine that must share the CPUs with it; a proxy's goroutines wait on
// the network most of the time and leave the drain room to run.
func BenchmarkEmit(b *testing.B) {
	l := testLogger(b, Config{Observer: "gw1.school.lan"}, io.Discard)
	e := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		l.Emit(e)
	}
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
}

// BenchmarkEmitParallel is BenchmarkEmit with GOMAXPROCS producers, which
// leave the drain goroutine hardly any CPU: dropped/op shows the queue
// shedding load instead of slowing the producers down.
func BenchmarkEmitParallel(b *testing.B) {
	l := testLogger(b, Config{Observer: "gw1.school.lan"}, io.Discard)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := benchEvent()
		for pb.Next() {
			l.Emit(e)
		}
	})
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
}
