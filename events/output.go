package events

import (
	"io"
	"os"
	"sync/atomic"
	"time"
)

// sink is where an output's records end up. Every Write carries whole
// records, each with its line terminator.
type sink struct {
	w io.Writer
	c io.Closer // nil for stdout and stderr, which the process keeps
}

// openSink opens the place an output plan names. Files are opened for
// append (so logrotate's copytruncate and several processes' appends work)
// and created 0640 (less if the umask says so): events name clients and the
// sites they visit, which is not for every local user to read.
func openSink(op outputPlan) (sink, error) {
	switch op.kind {
	case sinkStdout:
		return sink{w: os.Stdout}, nil
	case sinkStderr:
		return sink{w: os.Stderr}, nil
	}
	f, err := os.OpenFile(op.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return sink{}, err
	}
	return sink{w: f, c: f}, nil
}

// output is one configured destination: a bounded queue and the goroutine
// that empties it into the sink. The queue is what keeps a slow disk or a
// stuck pipe off the data path.
type output struct {
	name    string
	level   Level
	sink    sink
	queue   chan *buffer
	onError func(string, error)

	written atomic.Uint64
	dropped atomic.Uint64
	// abandoned is set when Close gave up waiting: what is still queued
	// is then counted as dropped instead of written after Close returned.
	abandoned atomic.Bool
	// closing makes sure the sink is closed once, by whichever of the drain
	// goroutine and a timed-out Close gets there first, without either
	// waiting for the other.
	closing  atomic.Bool
	closeErr error         // set by drain; read only after done is closed
	done     chan struct{} // closed when drain has returned
}

func newOutput(op outputPlan, s sink, queueSize int, onError func(string, error)) *output {
	return &output{
		name:    op.name,
		level:   op.level,
		sink:    s,
		queue:   make(chan *buffer, queueSize),
		onError: onError,
		done:    make(chan struct{}),
	}
}

// admits reports whether events of level l go to this output.
func (o *output) admits(l Level) bool { return l >= o.level }

// enqueue hands b to the drain goroutine, or drops it when the queue is
// full: the caller is on the data path and must never wait for a writer.
func (o *output) enqueue(b *buffer) {
	select {
	case o.queue <- b:
	default:
		o.dropped.Add(1)
		putBuffer(b)
	}
}

// drain writes queued records until the queue is closed and empty, then
// closes the sink. It is the only goroutine that writes to the sink.
func (o *output) drain() {
	defer close(o.done)
	failing := false
	var batch []byte
	for b := range o.queue {
		if o.abandoned.Load() {
			o.dropped.Add(1)
			putBuffer(b)
			continue
		}
		// Events that queued up while the last write ran leave in one write: records are
		// newline-framed, so a stream output takes them together, at one system call.
		batch = append(batch[:0], b.b...)
		putBuffer(b)
		n := uint64(1)
	more:
		for len(batch) < maxBatch {
			select {
			case next, ok := <-o.queue:
				if !ok {
					break more
				}
				batch = append(batch, next.b...)
				putBuffer(next)
				n++
			default:
				break more
			}
		}
		_, err := o.sink.w.Write(batch)
		if err != nil {
			o.dropped.Add(n)
			if !failing && o.onError != nil {
				o.onError(o.name, err)
			}
			failing = true
			continue
		}
		o.written.Add(n)
		failing = false
		// The queue is empty: let the next events gather before looking again, so that under
		// load they cost the data path no wake-up of this goroutine and leave in one write. A
		// lone event is still written at once; a queue that is not empty is written at once.
		if len(o.queue) == 0 {
			lingerSleep(batchLinger)
		}
	}
	_, o.closeErr = o.closeSink()
}

// maxBatch bounds the bytes one write carries.
const maxBatch = 64 << 10

// batchLinger is how long the writer waits after a write that emptied the queue before it
// looks again: the most an event waits behind the one before it. A queue of 4,096 events
// fills in 2 ms only at two million events a second.
const batchLinger = 2 * time.Millisecond

// lingerSleep is time.Sleep; tests replace it to see when the writer pauses.
var lingerSleep = time.Sleep

// closeSink closes the sink unless someone already did; won says whether
// this call closed it (and err is therefore meaningful).
func (o *output) closeSink() (won bool, err error) {
	if o.sink.c == nil || !o.closing.CompareAndSwap(false, true) {
		return false, nil
	}
	return true, o.sink.c.Close()
}
