package events

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gateWriter blocks every Write until release is closed, telling entered
// about each Write it starts, so tests can know the drain goroutine is stuck
// without sleeping.
type gateWriter struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
	writes  int
}

func newGateWriter() *gateWriter {
	return &gateWriter{entered: make(chan struct{}, 1024), release: make(chan struct{})}
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.entered <- struct{}{}
	<-g.release
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writes++
	return g.buf.Write(p)
}

func (g *gateWriter) lines() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Split(strings.TrimSuffix(g.buf.String(), "\n"), "\n")
}

// testLogger builds a Logger whose outputs all write to the given writers,
// in order, whatever the configuration names.
func testLogger(t testing.TB, cfg Config, ws ...io.Writer) *Logger {
	t.Helper()
	i := 0
	l, err := newLogger(cfg, func(outputPlan, string, func(error)) (sink, error) {
		w := ws[i]
		i++
		return &streamSink{w: w}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestFullQueueDropsAndCounts(t *testing.T) {
	g := newGateWriter()
	l := testLogger(t, Config{QueueSize: 2}, g)

	l.Emit(&Event{Action: ActionSplice}) // taken by drain, which blocks in Write
	<-g.entered
	l.Emit(&Event{Action: ActionSplice}) // queued
	l.Emit(&Event{Action: ActionSplice}) // queued: queue full
	for range 3 {
		l.Emit(&Event{Action: ActionDeny}) // dropped, without blocking
	}
	if got := l.Dropped(); got != 3 {
		t.Fatalf("Dropped = %d, want 3", got)
	}
	if st := l.Stats()[0]; st.Queued != 2 || st.Dropped != 3 {
		t.Fatalf("Stats = %+v", st)
	}

	close(g.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Three events and, after the first write that followed the drops, the output's report
	// that it lost three.
	lines := g.lines()
	if len(lines) != 4 || !strings.Contains(lines[1], `"action":"dropped"`) || !strings.Contains(lines[1], `"dropped":3`) {
		t.Fatalf("records written: %q", lines)
	}
	if st := l.Stats()[0]; st.Written != 4 || st.Dropped != 3 || st.Queued != 0 {
		t.Fatalf("Stats after Close = %+v", st)
	}
}

func TestCloseDrains(t *testing.T) {
	g := newGateWriter()
	l := testLogger(t, Config{}, g)
	const n = 100
	for range n {
		l.Emit(&Event{Action: ActionEnd})
	}
	closed := make(chan error)
	go func() { closed <- l.Close() }()
	close(g.release) // the writer is slow until now; Close must still wait
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if got := len(g.lines()); got != n {
		t.Fatalf("%d records written before Close returned, want %d", got, n)
	}
	if l.Dropped() != 0 {
		t.Fatalf("Dropped = %d", l.Dropped())
	}
}

func TestCloseGivesUp(t *testing.T) {
	g := newGateWriter()
	l := testLogger(t, Config{CloseTimeout: 20 * time.Millisecond}, g)
	o := l.outputs[0]
	defer func() { close(g.release); <-o.done }()

	l.Emit(&Event{Action: ActionDeny})
	<-g.entered // one record is stuck in Write; the next four queue behind it
	for range 4 {
		l.Emit(&Event{Action: ActionDeny})
	}
	err := l.Close()
	if err == nil || !strings.Contains(err.Error(), "gave up draining after 20ms; 4 queued events dropped") {
		t.Fatalf("Close = %v", err)
	}
	if l.Dropped() != 4 {
		t.Fatalf("Dropped = %d, want 4", l.Dropped())
	}
}

// failWriter fails the writes whose (1-based) numbers are in fail.
type failWriter struct {
	calls int
	fail  map[int]bool
}

func (f *failWriter) Write(p []byte) (int, error) {
	f.calls++
	if f.fail[f.calls] {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestFailedWritesAreDroppedAndReportedOnce(t *testing.T) {
	var mu sync.Mutex
	var reports []string
	onError := func(out string, err error) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, out+": "+err.Error())
	}
	// Two failure streaks (writes 1-3 and 6): two reports, four drops. Write 5 is the
	// output's report of the first three drops, right after write 4 succeeded.
	fw := &failWriter{fail: map[int]bool{1: true, 2: true, 3: true, 6: true}}
	l := testLogger(t, Config{OnError: onError}, fw)
	for i := range 5 {
		l.Emit(&Event{Action: ActionSplice})
		// One record per write: wait until the writer took this one before sending the next
		// (queued records would leave together, in one write).
		deadline := time.Now().Add(5 * time.Second)
		for st := l.Stats()[0]; st.Written+st.Dropped < uint64(i+1); st = l.Stats()[0] {
			if time.Now().After(deadline) {
				t.Fatalf("record %d not written", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.Dropped() != 4 || l.Stats()[0].Written != 2 || fw.calls != 6 {
		t.Fatalf("Dropped = %d, Stats = %+v", l.Dropped(), l.Stats())
	}
	if len(reports) != 2 || reports[0] != "stdout: disk full" {
		t.Fatalf("reports = %q", reports)
	}
}

// TestLevelFilteringSharesEncoding: outputs of one format share one group;
// each gets exactly the events its level admits, and the buffer is not
// shared between queues (each output gets its own copy).
func TestLevelFilteringSharesEncoding(t *testing.T) {
	var debug, info, warn, errs bytes.Buffer
	l := testLogger(t, Config{Level: "info", Outputs: []OutputConfig{
		{Output: "file:a", Level: "debug"}, {Output: "file:b"}, {Output: "file:c", Level: "warn"}, {Output: "file:d", Level: "error"},
	}}, &debug, &info, &warn, &errs)
	if len(l.groups) != 1 {
		t.Fatalf("%d groups, want 1", len(l.groups))
	}
	l.Emit(&Event{Action: ActionSplice, Rule: "one"})
	l.Emit(&Event{Action: ActionDeny, Rule: "two"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	count := func(b *bytes.Buffer) int { return bytes.Count(b.Bytes(), []byte("\n")) }
	if count(&debug) != 2 || count(&info) != 2 || count(&warn) != 1 || count(&errs) != 0 {
		t.Fatalf("records: debug %d, info %d, warn %d, error %d; want 2 2 1 0",
			count(&debug), count(&info), count(&warn), count(&errs))
	}
	if debug.String() != info.String() || !strings.Contains(warn.String(), `"action":"deny"`) {
		t.Fatalf("outputs disagree:\n%s\n%s\n%s", debug.String(), info.String(), warn.String())
	}
}

// TestConcurrentEmitAndClose is for the race detector: Emit racing Close
// must neither panic (send on a closed queue) nor lose count.
func TestConcurrentEmitAndClose(t *testing.T) {
	var w lockedBuffer
	l := testLogger(t, Config{QueueSize: 64}, &w)
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range goroutines {
		wg.Go(func() {
			<-start
			for range each {
				l.Emit(&Event{Action: ActionSplice, Rule: "r"})
			}
		})
	}
	close(start)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	st := l.Stats()[0]
	if total := st.Written + l.Dropped(); total != goroutines*each {
		t.Fatalf("written %d + dropped %d != emitted %d", st.Written, l.Dropped(), goroutines*each)
	}
	if got := uint64(bytes.Count(w.bytes(), []byte("\n"))); got != st.Written {
		t.Fatalf("%d lines, Written = %d", got, st.Written)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// TestQueuedRecordsLeaveInOneWrite: records that queue behind a slow write are written
// together, whole lines, in order.
func TestQueuedRecordsLeaveInOneWrite(t *testing.T) {
	g := newGateWriter()
	l := testLogger(t, Config{}, g)
	l.Emit(&Event{Action: ActionDeny, Reason: "r0"})
	<-g.entered // stuck in the first write
	for i := 1; i <= 5; i++ {
		l.Emit(&Event{Action: ActionDeny, Reason: "r" + strconv.Itoa(i)})
	}
	close(g.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := g.lines()
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6", len(lines))
	}
	for i, line := range lines {
		if !strings.Contains(line, `"reason":"r`+strconv.Itoa(i)+`"`) {
			t.Errorf("line %d out of order: %s", i, line)
		}
	}
	g.mu.Lock()
	writes := g.writes
	g.mu.Unlock()
	if writes != 2 {
		t.Errorf("%d writes, want 2 (one stuck, then the five queued together)", writes)
	}
}

// TestWriterPausesOnlyWhenTheQueueIsEmpty: the writer pauses (batchLinger) after a write only
// when the queue is empty. Records queued beyond one write's maxBatch leave in back-to-back
// writes; a pause between them would cap an output's rate and drop events under a burst.
func TestWriterPausesOnlyWhenTheQueueIsEmpty(t *testing.T) {
	var pausesWithQueued atomic.Int32
	var out *output
	lingerWait = func(o *output) {
		if len(out.queue) > 0 {
			pausesWithQueued.Add(1)
		}
	}
	defer func() { lingerWait = (*output).linger }()
	g := newGateWriter()
	l := testLogger(t, Config{}, g)
	out = l.outputs[0]
	l.Emit(&Event{Action: ActionDeny, Reason: "first"})
	<-g.entered // stuck in the first write
	// About 3 maxBatch worth of records, all queued behind the stuck write.
	pad := strings.Repeat("x", 1000)
	const n = 3 * maxBatch / 1000
	for i := range n {
		l.Emit(&Event{Action: ActionDeny, Reason: "r" + strconv.Itoa(i), DestDomain: pad})
	}
	close(g.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(g.lines()); got != n+1 {
		t.Fatalf("%d lines written, want %d", got, n+1)
	}
	g.mu.Lock()
	writes := g.writes
	g.mu.Unlock()
	if writes < 4 {
		t.Fatalf("%d writes for %d KiB: the records should need several maxBatch writes", writes, (n*1000)>>10)
	}
	if p := pausesWithQueued.Load(); p != 0 {
		t.Errorf("the writer paused %d times with records still queued", p)
	}
}

// TestSkipIsNotADrop: squid leaves the decision of an established tunnel out
// (its end event logs it); that is neither written nor dropped, while a json
// output beside it still gets the event.
func TestSkipIsNotADrop(t *testing.T) {
	var squid, js bytes.Buffer
	l := testLogger(t, Config{Outputs: []OutputConfig{{Format: FormatSquid, Output: "stdout"}, {Format: FormatJSON, Output: "stderr"}}}, &squid, &js)
	l.Emit(&Event{Action: ActionSplice, DestDomain: "a.example", DestPort: 443})
	l.Emit(&Event{Action: ActionEnd, DestDomain: "a.example", DestPort: 443})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st[0].Written != 1 || st[0].Dropped != 0 || st[1].Written != 2 || l.Dropped() != 0 {
		t.Errorf("stats %+v, dropped %d", st, l.Dropped())
	}
	if !strings.Contains(squid.String(), "TCP_TUNNEL/200") || strings.Count(squid.String(), "\n") != 1 {
		t.Errorf("squid output %q", squid.String())
	}
}

// TestWriterPauseEndsOnHalfFullQueueAndClose: the writer's pause after a write that emptied
// the queue ends as soon as the queue is half full, and when Close begins, however long the
// pause. With an hour's pause, a writer that slept it out would fail both: the half queue
// would never be written before waitLimit, and Close would give up and count drops.
func TestWriterPauseEndsOnHalfFullQueueAndClose(t *testing.T) {
	batchLinger = time.Hour
	defer func() { batchLinger = 20 * time.Millisecond }()
	var buf syncLines
	l := testLogger(t, Config{QueueSize: 64}, &buf)
	l.Emit(&Event{Action: ActionDeny, Reason: "first"})
	waitLines(t, &buf, 1) // written at once; the writer now pauses for an hour
	for i := range 32 {
		l.Emit(&Event{Action: ActionDeny, Reason: "r" + strconv.Itoa(i)})
	}
	waitLines(t, &buf, 33) // the half-full queue woke it
	l.Emit(&Event{Action: ActionDeny, Reason: "last"})
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := buf.count(); n != 34 {
		t.Fatalf("%d lines after Close, want 34", n)
	}
	if st := l.Stats(); st[0].Dropped != 0 {
		t.Fatalf("dropped %d", st[0].Dropped)
	}
}

// syncLines counts the lines written to it, for tests that wait for the writer.
type syncLines struct {
	mu    sync.Mutex
	lines int
	more  chan struct{}
}

func (s *syncLines) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.lines += bytes.Count(p, []byte("\n"))
	if s.more != nil {
		close(s.more)
		s.more = nil
	}
	s.mu.Unlock()
	return len(p), nil
}

func (s *syncLines) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines
}

// waitLines waits until at least n lines were written, for at most 10 s.
func waitLines(t *testing.T, s *syncLines, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		if s.lines >= n {
			s.mu.Unlock()
			return
		}
		if s.more == nil {
			s.more = make(chan struct{})
		}
		more := s.more
		s.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("%d lines written, want %d", s.count(), n)
		}
	}
}
