package events

import (
	"io"
	"os"
	"sync"

	"gopkg.in/natefinch/lumberjack.v2"
)

// sink is where an output's records end up. The output's goroutine hands it
// the records that queued up, in order, as separate records: a stream sink
// (stdout, a file) may write them in one system call, a syslog sink frames
// each one (a datagram per record over UDP, an octet-counted frame over TCP
// and TLS). write returns how many records it shipped; the rest are lost and
// err says why.
type sink interface {
	write(recs []*buffer) (int, error)
	// reopen reopens a file (SIGHUP, after logrotate moved it); other sinks
	// do nothing.
	reopen() error
	close() error
}

// streamSink writes newline-framed records to a writer: stdout, stderr, or
// a test's writer. Records leave together, in one Write.
type streamSink struct {
	w     io.Writer
	c     io.Closer // nil for stdout and stderr, which the process keeps
	batch []byte    // used by write only, which only the output's goroutine calls
}

func (s *streamSink) write(recs []*buffer) (int, error) {
	s.batch = s.batch[:0]
	for _, r := range recs {
		s.batch = append(s.batch, r.b...)
	}
	if _, err := s.w.Write(s.batch); err != nil {
		return 0, err
	}
	if cap(s.batch) > maxBatch*2 {
		s.batch = nil
	}
	return len(recs), nil
}

func (s *streamSink) reopen() error { return nil }

func (s *streamSink) close() error {
	if s.c == nil {
		return nil
	}
	return s.c.Close()
}

// fileSink is a file opened for append (so logrotate's copytruncate and
// several processes' appends work) and created 0640 (less if the umask
// says so): events name clients and the sites they visit, which is not for
// every local user to read. reopen closes and opens the path again, for
// logrotate's create mode.
type fileSink struct {
	path string
	mu   sync.Mutex // reopen (SIGHUP) against write (the output's goroutine)
	f    *os.File
	streamSink
}

func openFile(path string) (*fileSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	return &fileSink{path: path, f: f, streamSink: streamSink{w: f}}, nil
}

func (s *fileSink) write(recs []*buffer) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streamSink.write(recs)
}

func (s *fileSink) reopen() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err // keep writing to the old file rather than nowhere
	}
	s.mu.Lock()
	old := s.f
	s.f, s.w = f, f
	s.mu.Unlock()
	return old.Close()
}

func (s *fileSink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// rotatingSink is a file that lumberjack rotates by size: events.json is
// renamed to events-TIMESTAMP.json when it reaches MaxSizeMB and a new one
// started; old ones beyond MaxBackups or MaxAgeDays are removed. reopen
// (SIGHUP) rotates now, which also does what logrotate expects when it has
// moved the file itself.
type rotatingSink struct {
	lj *lumberjack.Logger
	streamSink
}

func openRotating(path string, r Rotate) (*rotatingSink, error) {
	lj := &lumberjack.Logger{
		Filename:   path,
		MaxSize:    r.MaxSizeMB,
		MaxBackups: r.MaxBackups,
		MaxAge:     r.MaxAgeDays,
		Compress:   r.Compress,
	}
	// Open now, so that a path that cannot be written is a configuration
	// error at start, not a stream of dropped events. A zero-length write
	// opens the file (lumberjack opens lazily) and writes nothing.
	if _, err := lj.Write(nil); err != nil {
		return nil, err
	}
	return &rotatingSink{lj: lj, streamSink: streamSink{w: lj, c: lj}}, nil
}

func (s *rotatingSink) reopen() error { return s.lj.Rotate() }
