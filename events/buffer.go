package events

import (
	"sync"
	"time"
)

// buffer carries one encoded record from Emit to an output's goroutine. The
// pool makes the steady state allocation-free: the drain goroutine returns
// each buffer once the record is written.
type buffer struct {
	b []byte
	// What a syslog sink's header needs of the event: its level (the
	// severity), time and action (the MSGID).
	level Level
	time  time.Time
	msgid Action
}

// maxPooledBuffer keeps the odd huge record (a very long URL) from pinning
// its memory in the pool forever.
const maxPooledBuffer = 64 << 10

var bufferPool = sync.Pool{
	New: func() any { return &buffer{b: make([]byte, 0, 1024)} },
}

func getBuffer() *buffer {
	b := bufferPool.Get().(*buffer)
	b.b = b.b[:0]
	return b
}

func putBuffer(b *buffer) {
	if cap(b.b) > maxPooledBuffer {
		return
	}
	bufferPool.Put(b)
}
