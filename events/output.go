package events

import (
	"crypto/tls"
	"os"
	"sync/atomic"
	"time"
)

// openSink opens the place an output plan names. Files are opened here, so
// that a path that cannot be written is an error naming the key; a syslog
// collector is only dialled later, on the sink's own goroutine, so that one
// that is down at start or reload is not an error. onDown is told, from
// that goroutine, when the collector cannot be reached.
func openSink(op outputPlan, observer string, onDown func(error)) (sink, error) {
	switch op.kind {
	case sinkStdout:
		return &streamSink{w: os.Stdout}, nil
	case sinkStderr:
		return &streamSink{w: os.Stderr}, nil
	case sinkSyslog:
		var tc *tls.Config
		if op.transport == transportTLS {
			var err error
			if tc, err = op.tls.load(op.addr); err != nil {
				return nil, err
			}
		}
		return newSyslogSink(op.transport, op.addr, tc, observer, onDown), nil
	}
	if op.rotate != nil {
		return openRotating(op.path, *op.rotate)
	}
	return openFile(op.path)
}

// output is one configured destination: a bounded queue and the goroutine
// that empties it into the sink. The queue is what keeps a slow disk, a
// stuck pipe or an absent collector off the data path.
type output struct {
	name    string
	level   Level
	sink    sink
	enc     Encoder // the group's, for reports of dropped events
	queue   chan *buffer
	onError func(string, error)
	// maxRecord is the longest record the sink can ship whole (a UDP
	// datagram's budget); 0 means no limit.
	maxRecord int

	written atomic.Uint64
	dropped atomic.Uint64
	// reported is the dropped count the last report of dropped events
	// covered; reportedAt when it was written. Used by drain only.
	reported   uint64
	reportedAt time.Time

	// abandoned is set when Close gave up waiting: what is still queued
	// is then counted as dropped instead of written after Close returned.
	abandoned atomic.Bool
	// closing makes sure the sink is closed once, by whichever of the drain
	// goroutine and a timed-out Close gets there first, without either
	// waiting for the other.
	closing  atomic.Bool
	closeErr error         // set by drain; read only after done is closed
	done     chan struct{} // closed when drain has returned

	// wake cuts the writer's pause short when the queue is half full; stop
	// cuts it short when Close begins. pause is the pause's timer, reused.
	wake  chan struct{}
	stop  chan struct{}
	pause *time.Timer
}

func newOutput(op outputPlan, s sink, queueSize int, onError func(string, error)) *output {
	o := &output{
		name:    op.name,
		level:   op.level,
		sink:    s,
		queue:   make(chan *buffer, queueSize),
		onError: onError,
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	if ss, ok := s.(*syslogSink); ok {
		o.maxRecord = ss.maxMessage()
	}
	return o
}

// admits reports whether events of level l go to this output.
func (o *output) admits(l Level) bool { return l >= o.level }

// enqueue hands b to the drain goroutine, or drops it when the queue is
// full: the caller is on the data path and must never wait for a writer.
func (o *output) enqueue(b *buffer) {
	select {
	case o.queue <- b:
		if len(o.queue) >= cap(o.queue)/2 {
			select {
			case o.wake <- struct{}{}:
			default: // a wake-up is already pending
			}
		}
	default:
		o.dropped.Add(1)
		putBuffer(b)
	}
}

// maxBatch bounds the bytes one call to the sink carries; maxBatchRecords
// the records.
const (
	maxBatch        = 64 << 10
	maxBatchRecords = 256
)

// batchLinger is how long the writer waits after a write that emptied the queue before it
// looks again, unless the queue fills half-way or Close begins first: the most an event waits
// behind the one before it. It is long on purpose. Every pause ends in a timer wake-up of an
// otherwise idle process, and at a 2 ms pause those wake-ups cost about 30 µs of CPU per
// tunnel set up (docs/benchmarks.md); at 20 ms they are a tenth as many. A queue of 4,096
// events fills half-way in 20 ms only at about 100,000 events a second, and then the half-full
// wake-up writes it at once, so a burst is never capped by the pause.
var batchLinger = 20 * time.Millisecond

// linger is the writer's pause: batchLinger, cut short by a half-full queue or by Close.
func (o *output) linger() {
	if o.pause == nil {
		o.pause = time.NewTimer(batchLinger)
	} else {
		o.pause.Reset(batchLinger)
	}
	select {
	case <-o.pause.C:
	case <-o.wake:
		o.pause.Stop()
	case <-o.stop:
		o.pause.Stop()
	}
}

// lingerWait is (*output).linger; tests replace it to see when the writer pauses.
var lingerWait = (*output).linger

// reportEvery spaces an output's reports of dropped events: while events
// keep being lost, one report a second says how many.
const reportEvery = time.Second

// drain writes queued records until the queue is closed and empty, then
// closes the sink. It is the only goroutine that writes to the sink.
func (o *output) drain() {
	defer close(o.done)
	failing := false
	recs := make([]*buffer, 0, maxBatchRecords)
	for b := range o.queue {
		if o.abandoned.Load() {
			o.dropped.Add(1)
			putBuffer(b)
			continue
		}
		// Events that queued up while the last write ran go to the sink
		// together (a stream sink writes them at one system call), each
		// still a record of its own.
		recs = append(recs[:0], b)
		size := len(b.b)
	more:
		for size < maxBatch && len(recs) < maxBatchRecords {
			select {
			case next, ok := <-o.queue:
				if !ok {
					break more
				}
				recs = append(recs, next)
				size += len(next.b)
			default:
				break more
			}
		}
		n, err := o.sink.write(recs)
		o.written.Add(uint64(n))
		if lost := len(recs) - n; lost > 0 {
			o.dropped.Add(uint64(lost))
		}
		for i, r := range recs {
			putBuffer(r)
			recs[i] = nil
		}
		if err != nil {
			if !failing && o.onError != nil {
				o.onError(o.name, err)
			}
			failing = true
		} else {
			failing = false
		}
		if n > 0 {
			o.reportDropped()
		}
		// The queue is empty: let the next events gather before looking again, so that under
		// load they cost the data path no wake-up of this goroutine and leave in one write. A
		// lone event is still written at once; a queue that is not empty is written at once.
		if len(o.queue) == 0 {
			lingerWait(o)
		}
	}
	o.closeErr = o.closeSink()
}

// reportDropped writes, once the sink takes records again, an event saying
// how many events this output lost since the last such report, so that the
// SIEM sees the gap instead of silence. At most one a second.
func (o *output) reportDropped() {
	d := o.dropped.Load()
	if d <= o.reported || o.enc == nil || time.Since(o.reportedAt) < reportEvery {
		return
	}
	ev := Event{Time: time.Now(), Action: ActionDropped, Outcome: OutcomeFailure,
		Reason: "output_dropped", Dropped: d - o.reported}
	o.reported, o.reportedAt = d, ev.Time
	if sk, ok := o.enc.(skipper); ok && sk.Skips(&ev) {
		return
	}
	b := getBuffer()
	b.b = o.enc.AppendEvent(b.b, &ev)
	b.level, b.time, b.msgid = ev.Level(), ev.Time, ev.Action
	n, _ := o.sink.write([]*buffer{b})
	o.written.Add(uint64(n))
	putBuffer(b)
}

// closeSink closes the sink unless someone already did; the second caller
// gets nil.
func (o *output) closeSink() error {
	if !o.closing.CompareAndSwap(false, true) {
		return nil
	}
	return o.sink.close()
}
