package proxy

import (
	"sync"

	"golang.org/x/sys/unix"
)

// pipeSize is the capacity asked of each pipe: big enough that one splice moves a burst of bulk
// data, as Go's own splice does.
const pipeSize = 1 << 20

// maxIdlePipes bounds the pipes kept for reuse. Only tunnels moving data at this instant hold a
// pipe, so a few cover many thousands of mostly idle tunnels.
const maxIdlePipes = 32

// pipe is a kernel pipe used as the splice(2) buffer between two sockets.
type pipe struct{ r, w int }

var pipePool struct {
	sync.Mutex
	free []*pipe
}

// getPipe returns an empty pipe from the pool or a new one.
func getPipe() (*pipe, error) {
	pipePool.Lock()
	if n := len(pipePool.free); n > 0 {
		p := pipePool.free[n-1]
		pipePool.free = pipePool.free[:n-1]
		pipePool.Unlock()
		return p, nil
	}
	pipePool.Unlock()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	// A larger pipe moves more per system call; failing to grow it only costs speed.
	unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, pipeSize)
	return &pipe{r: fds[0], w: fds[1]}, nil
}

// putPipe returns an empty pipe for reuse. A pipe that may still hold bytes must be closed
// with discard instead.
func putPipe(p *pipe) {
	pipePool.Lock()
	if len(pipePool.free) < maxIdlePipes {
		pipePool.free = append(pipePool.free, p)
		pipePool.Unlock()
		return
	}
	pipePool.Unlock()
	p.discard()
}

// discard closes the pipe.
func (p *pipe) discard() {
	unix.Close(p.r)
	unix.Close(p.w)
}
