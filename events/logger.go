package events

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Logger ships events to the configured outputs. Its methods are safe for
// concurrent use; a nil *Logger discards everything.
type Logger struct {
	groups       []group
	outputs      []*output
	closeTimeout time.Duration
	agg          *aggregator // nil when log.aggregate is off

	// active counts Emit calls in progress and closed is set by Close.
	// Emit raises active before it reads closed and Close sets closed before
	// it waits for active to reach zero, so (atomics being sequentially
	// consistent) no Emit can send on a queue Close has closed, and Emit
	// never has to take a lock.
	active atomic.Int64
	closed atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

// group is the outputs that share a format: an event is encoded once per
// group, not once per output.
type group struct {
	format string
	enc    Encoder
	skip   skipper // enc, when it leaves some events out on purpose; else nil
	min    Level   // the least severe level any output of the group admits
	outs   []*output
}

// New checks cfg (the same checks as Validate), opens the outputs and starts
// one goroutine per output. Errors name the key at fault. A syslog
// collector that cannot be reached is not an error: its output connects in
// the background and counts what it loses until then.
func New(cfg Config) (*Logger, error) {
	return newLogger(cfg, openSink)
}

// newLogger is New with the opening of sinks replaceable, so that tests can
// put writers of their own behind outputs.
func newLogger(cfg Config, open func(op outputPlan, observer string, onDown func(error)) (sink, error)) (*Logger, error) {
	p, err := cfg.plan()
	if err != nil {
		return nil, err
	}
	observer := cfg.Observer
	if observer == "" {
		// No hostname is not worth refusing to start over: observer.name
		// is then left out.
		observer, _ = os.Hostname()
	}

	l := &Logger{closeTimeout: p.closeTimeout}
	for _, op := range p.outputs {
		var onDown func(error)
		if cfg.OnError != nil {
			name := op.name
			onDown = func(err error) { cfg.OnError(name, err) }
		}
		s, err := open(op, observer, onDown)
		if err != nil {
			for _, o := range l.outputs {
				o.closeSink()
			}
			return nil, &ConfigError{Key: op.key + ".output", Err: err}
		}
		o := newOutput(op, s, p.queueSize, cfg.OnError)
		l.outputs = append(l.outputs, o)
		l.addToGroup(op.format, Observer{Name: observer, Version: cfg.Version}, o)
	}
	for _, o := range l.outputs {
		go o.drain()
	}
	if cfg.Aggregate > 0 {
		l.agg = newAggregator(cfg.Aggregate, l.dispatch)
	}
	return l, nil
}

// addToGroup files o under its format's group, creating the group's encoder
// on first use. plan has already checked that the format exists.
func (l *Logger) addToGroup(format string, observer Observer, o *output) {
	for i := range l.groups {
		if l.groups[i].format == format {
			g := &l.groups[i]
			g.outs = append(g.outs, o)
			g.min = min(g.min, o.level)
			o.enc = g.enc
			return
		}
	}
	enc, _ := NewEncoder(format, observer)
	skip, _ := enc.(skipper)
	o.enc = enc
	l.groups = append(l.groups, group{format: format, enc: enc, skip: skip, min: o.level, outs: []*output{o}})
}

// Emit encodes e and queues it for every output whose level admits it. It
// never blocks: an output whose queue is full drops the event and counts
// it. Emit does not keep e. Emit after Close counts the event as dropped.
// With log.aggregate on, a denial goes to the aggregator's goroutine instead
// and is shipped when its window closes.
func (l *Logger) Emit(e *Event) {
	if l == nil || e == nil {
		return
	}
	l.active.Add(1)
	defer l.active.Add(-1)
	if l.closed.Load() {
		lvl := e.Level()
		for _, o := range l.outputs {
			if o.admits(lvl) {
				o.dropped.Add(1)
			}
		}
		return
	}
	if l.agg != nil && l.agg.take(e) {
		return
	}
	l.dispatch(e)
}

// dispatch encodes e once per group and queues it on the group's outputs.
func (l *Logger) dispatch(e *Event) {
	lvl := e.Level()
	for i := range l.groups {
		g := &l.groups[i]
		if lvl < g.min || g.skip != nil && g.skip.Skips(e) {
			continue // not for this group; a skip is not a drop
		}
		b := getBuffer()
		b.b = g.enc.AppendEvent(b.b, e)
		b.level, b.time, b.msgid = lvl, e.Time, e.Action
		last := -1
		for j, o := range g.outs {
			if o.admits(lvl) {
				last = j
			}
		}
		if len(b.b) == 0 { // the encoder refused (zerolog globally disabled)
			for _, o := range g.outs[:last+1] {
				if o.admits(lvl) {
					o.dropped.Add(1)
				}
			}
			putBuffer(b)
			continue
		}
		// Every output but the last gets a copy; the last takes the
		// buffer itself, so the usual single output copies nothing.
		for j, o := range g.outs[:last+1] {
			if !o.admits(lvl) {
				continue
			}
			rec := b
			if j != last {
				rec = getBuffer()
				rec.b = append(rec.b, b.b...)
				rec.level, rec.time, rec.msgid = b.level, b.time, b.msgid
			}
			if o.maxRecord > 0 && len(rec.b) > o.maxRecord && !g.shorten(rec, e, o.maxRecord) {
				o.dropped.Add(1)
				putBuffer(rec)
				continue
			}
			o.enqueue(rec)
		}
	}
}

// shorten re-encodes e into rec with its client-supplied texts cut, for an
// output whose records must fit a datagram. It reports whether the record
// now fits.
func (g *group) shorten(rec *buffer, e *Event, max int) bool {
	short := *e
	const cut = 128
	short.SNI = cutUTF8(short.SNI, cut)
	short.URL = cutUTF8(short.URL, cut)
	short.RawTarget = cutUTF8(short.RawTarget, cut)
	short.Reason = cutUTF8(short.Reason, cut)
	short.Rule = cutUTF8(short.Rule, cut)
	short.Upstream = cutUTF8(short.Upstream, cut)
	if _, raw := e.Domain(); raw != "" {
		short.DestDomain = cutUTF8(short.DestDomain, cut) // goes out as the raw target
	}
	rec.b = g.enc.AppendEvent(rec.b[:0], &short)
	return len(rec.b) <= max
}

// Dropped is the number of events that could not be shipped, counted once
// per output: queue full, write failed, collector away, emitted after
// Close, or still queued when Close gave up.
func (l *Logger) Dropped() uint64 {
	if l == nil {
		return 0
	}
	var n uint64
	for _, o := range l.outputs {
		n += o.dropped.Load()
	}
	return n
}

// OutputStats are one output's counters, for metrics.
type OutputStats struct {
	Output  string // as configured: "stdout", "file:/var/log/mdmproxy/events.json"
	Written uint64 // records written (reports of dropped events included)
	Dropped uint64 // events lost: queue full, write failed, collector away, or abandoned at Close
	Queued  int    // events waiting now
}

// Stats returns each output's counters, in configuration order.
func (l *Logger) Stats() []OutputStats {
	if l == nil {
		return nil
	}
	st := make([]OutputStats, len(l.outputs))
	for i, o := range l.outputs {
		st[i] = OutputStats{Output: o.name, Written: o.written.Load(), Dropped: o.dropped.Load(), Queued: len(o.queue)}
	}
	return st
}

// Reopen reopens the file outputs (SIGHUP after logrotate moved them; a
// rotating output rotates). Other outputs are left alone. Errors name the
// outputs; an output that cannot reopen keeps its old file.
func (l *Logger) Reopen() error {
	if l == nil {
		return nil
	}
	var errs []error
	for _, o := range l.outputs {
		if err := o.sink.reopen(); err != nil {
			errs = append(errs, fmt.Errorf("events: output %s: reopen: %w", o.name, err))
		}
	}
	return errors.Join(errs...)
}

// Close stops accepting events, ships the denials being aggregated, waits
// for the queues to drain (for at most Config.CloseTimeout, 2 s by default)
// and closes the outputs. Whatever is still queued when it gives up is
// counted as dropped. Calling Close again returns the first result.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Logger) close() error {
	l.closed.Store(true)
	// Emit calls that got past the closed check are enqueueing, which does
	// not block; wait for them before closing the channels they send on.
	for l.active.Load() != 0 {
		runtime.Gosched()
	}
	if l.agg != nil {
		l.agg.close() // flushes through dispatch, onto the queues
	}
	for _, o := range l.outputs {
		close(o.stop) // a pausing writer looks at its queue at once
		close(o.queue)
	}

	var errs []error
	deadline := time.NewTimer(l.closeTimeout)
	defer deadline.Stop()
	timedOut := false
	for _, o := range l.outputs {
		if !timedOut {
			select {
			case <-o.done:
			case <-deadline.C:
				timedOut = true
			}
		}
		if timedOut {
			select {
			case <-o.done:
			default:
				// Stuck in a write: count what is left as dropped (taking
				// it off the closed queue here, so that Dropped is right
				// when Close returns even if the write never does), and
				// close the sink, which may also unblock the write.
				o.abandoned.Store(true)
				lost := 0
				for b := range o.queue {
					o.dropped.Add(1)
					putBuffer(b)
					lost++
				}
				if err := o.closeSink(); err != nil {
					errs = append(errs, fmt.Errorf("events: output %s: %w", o.name, err))
				}
				errs = append(errs, fmt.Errorf("events: output %s: gave up draining after %s; %d queued events dropped", o.name, l.closeTimeout, lost))
				continue
			}
		}
		if o.closeErr != nil {
			errs = append(errs, fmt.Errorf("events: output %s: %w", o.name, o.closeErr))
		}
	}
	return errors.Join(errs...)
}
