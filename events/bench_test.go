package events

import (
	"io"
	"net"
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

// BenchmarkEncodeFormats measures each text format's encoder on the same
// event as BenchmarkEncodeJSON.
func BenchmarkEncodeFormats(b *testing.B) {
	for _, format := range []string{FormatCEF, FormatLEEF, FormatSquid} {
		b.Run(format, func(b *testing.B) {
			enc, err := NewEncoder(format, Observer{Name: "gw1.school.lan", Version: "1.0.0"})
			if err != nil {
				b.Fatal(err)
			}
			e := benchEvent()
			e.Action = ActionEnd // squid writes end events
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = enc.AppendEvent(buf[:0], e)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkEmitSyslogDown is BenchmarkEmit with a syslog output whose
// collector is down: what the data path pays when every event is dropped.
func BenchmarkEmitSyslogDown(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	l, err := New(Config{Observer: "gw1.school.lan", Output: "syslog+tcp://" + addr})
	if err != nil {
		b.Fatal(err)
	}
	e := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		l.Emit(e)
	}
	b.StopTimer()
	l.Close()
	b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
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
