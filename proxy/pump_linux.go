package proxy

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// newPumps builds the two directions of t and returns the function that starts them. They
// exist (and t.pumps is set) before the tunnel is registered, so an abort from Shutdown or the
// sweeper always sees them. TCP connections get the splice pump; anything else (a wrapped
// connection) the portable copy pump. Each direction has a goroutine of its own: running one on
// the set-up's goroutine saved no measurable CPU and kept its grown stack alive until the
// first park, which raised the RSS of idle tunnels by about 0.25 KiB each.
func newPumps(t *tunnel) (start func()) {
	c, cok := t.client.(*net.TCPConn)
	o, ook := t.origin.(*net.TCPConn)
	if cok && ook {
		cr, err1 := c.SyscallConn()
		or, err2 := o.SyscallConn()
		if err := errors.Join(err1, err2); err == nil {
			up := newSplicePump(t, c, o, cr, or, &t.up)
			down := newSplicePump(t, o, c, or, cr, &t.down)
			t.pumps = [2]parkable{up, down}
			return func() {
				go up.run()
				go down.run()
			}
		}
	}
	return func() {
		go copyPump(t, t.client, t.origin, &t.up)
		go copyPump(t, t.origin, t.client, &t.down)
	}
}

// splicePump moves one direction of a tunnel. While the source is quiet it waits in the
// runtime's poller (and after parkAfter in the parker) holding no pipe and no buffer. When the
// socket becomes readable it reads what is there into a pooled 16 KiB buffer and sends it on;
// a burst that fills the buffer continues with splice(2), socket to pipe to socket, so bulk
// bytes never enter user space, and the pipe goes back to the pool when the socket is drained. io.Copy between two TCPConns would also splice,
// but would block inside splice holding a pipe pair (two more descriptors) for the whole life
// of an idle tunnel.
type splicePump struct {
	t        *tunnel
	src, dst *net.TCPConn
	srcRaw   syscall.RawConn
	dstRaw   syscall.RawConn
	count    *atomic.Int64

	// The callbacks for RawConn, bound once so that a wake-up does not allocate: io runs the
	// operation op names (one bound callback, not one per operation, keeps the pump small).
	io     func(fd uintptr) bool
	roomFn func(fd uintptr)

	pipe    *pipe
	inBuf   int32 // bytes in the pipe not yet written to dst (at most pipeSize)
	fillMax int32 // the most the next fill may take from src: what dst has room for (roomFn)
	noWait  bool  // drain: when dst is full, return (setting full) instead of waiting
	full    bool  // drain found dst full with bytes left in the pipe
	tryOnly bool  // send: return after one attempt, whatever dst took
	armedW  bool  // dst has a write deadline this pump set (see below)
	op      uint8 // what io does: opRead, opSend, opFill or opDrain
	err     error // the last system call's error, as seen by a callback
	readErr error // a socket error readFirst consumed
	buf     *[smallBuf]byte
	n, off  int // bytes in buf, and how many of them were sent

	// Deadlines cost a runtime timer change each, so the pump sets them only when they can
	// matter. readArmed is the read deadline this pump last gave src (unix ns; 0: none), which
	// is moved only once it has passed: a pump with bytes flowing re-arms once per park delay,
	// not once per wake-up. parkAt is when the pump may park (its last wake-up plus the park
	// delay). armedW is true while dst has a write deadline this pump set: writes are tried
	// without one first, and one is set only when dst is full.
	readArmed, parkAt int64

	state  atomic.Int32 // pumpRunning, pumpParked or pumpDone
	parkID int32        // key in the parker; 0 before the first park
}

// newSplicePump builds the pump from src to dst; sr and dr are their RawConns, which the two
// directions of a tunnel share.
func newSplicePump(t *tunnel, src, dst *net.TCPConn, sr, dr syscall.RawConn, count *atomic.Int64) *splicePump {
	p := &splicePump{t: t, src: src, dst: dst, srcRaw: sr, dstRaw: dr, count: count}
	p.io, p.roomFn = p.do, p.measureRoom
	return p
}

// What io does.
const (
	opRead  uint8 = iota // readFirst: read what src holds into the pooled buffer
	opSend               // send: write the buffer to dst
	opFill               // fill: splice src into the pipe
	opDrain              // drain: splice the pipe into dst
)

// do is the RawConn callback: the operation p.op names.
func (p *splicePump) do(fd uintptr) bool {
	switch p.op {
	case opSend:
		return p.send(fd)
	case opFill:
		return p.fill(fd)
	case opDrain:
		return p.drain(fd)
	}
	return p.readFirst(fd)
}

// smallBuf is the size of the buffer a pump reads into when it wakes. Most wake-ups carry less
// (TLS handshake flights, push messages, requests): one recv and one send move them, cheaper
// than a peek, two splices and a pipe. A burst that fills it continues with splice.
const smallBuf = 16 << 10

var smallBufPool = sync.Pool{New: func() any { return new([smallBuf]byte) }}

// readFirst reads what src holds into a pooled buffer. It returns false (park in the poller)
// when there is nothing, giving the buffer back first, so a waiting pump holds no memory. A
// socket error (a reset) is kept in readErr; n == 0 with no error is EOF.
func (p *splicePump) readFirst(fd uintptr) bool {
	if p.buf == nil {
		p.buf = smallBufPool.Get().(*[smallBuf]byte)
	}
	for {
		n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p.buf[0])), smallBuf,
			syscall.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			p.n, p.readErr = int(n), nil
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			p.releaseBuf()
			return false
		default:
			p.n, p.readErr = 0, errno
			return true
		}
	}
}

func (p *splicePump) releaseBuf() {
	if p.buf != nil {
		smallBufPool.Put(p.buf)
		p.buf = nil
	}
}

// send writes buf[off:n] to dst, like drain: when dst is full it returns whether it moved
// some bytes, and false (wait for writable) if none; with tryOnly, true (never wait).
func (p *splicePump) send(fd uintptr) bool {
	moved := p.tryOnly
	for p.off < p.n {
		m, err := unix.Write(int(fd), p.buf[p.off:p.n])
		switch err {
		case nil:
			p.off += m
			moved = true
		case unix.EINTR:
		case unix.EAGAIN:
			return moved
		default:
			p.err = err
			return true
		}
	}
	return true
}

// writeFirst sends what readFirst read. It returns false when the tunnel was aborted, and
// whether it had to wait for dst. A flight usually fits in dst's send buffer at once: it is
// tried without a deadline, and only what dst cannot take yet waits, under the write deadline.
func (p *splicePump) writeFirst() (ok, waited bool) {
	defer p.releaseBuf()
	p.off, p.err = 0, nil
	p.tryOnly = !p.armedW
	if p.armedW {
		p.dst.SetWriteDeadline(p.t.writeDeadline())
	}
	for {
		before := p.off
		p.op = opSend
		err := p.dstRaw.Write(p.io)
		if !p.armedW && errors.Is(err, os.ErrDeadlineExceeded) {
			// A deadline someone else left on dst, now past, refused the attempt before it
			// was made: wait under the pump's own instead.
			err = nil
		}
		if err != nil || p.err != nil {
			p.writeFailed(err)
			return false, waited
		}
		if moved := p.off - before; moved > 0 {
			p.count.Add(int64(moved))
			p.t.touch()
		}
		if p.off == p.n {
			break
		}
		// dst is full: wait for it, bounded by the write deadline, refreshed whenever the
		// peer takes some (a slow reader that makes progress is not idle).
		p.tryOnly = false
		p.armedW, waited = true, true
		p.dst.SetWriteDeadline(p.t.writeDeadline())
	}
	p.disarmWrite()
	return true, waited
}

// disarmWrite clears the write deadline a wait for dst left, so that the next flight is tried
// without one again (a deadline in the past would fail it at once).
func (p *splicePump) disarmWrite() {
	if p.armedW {
		p.armedW = false
		p.dst.SetWriteDeadline(time.Time{})
	}
}

// writeFailed ends the tunnel after a write to dst failed (a reset) or waited past its
// deadline (a peer that stopped reading).
func (p *splicePump) writeFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		p.t.abort(allowlist.ReasonIdleTimeout)
	} else {
		p.t.abort(allowlist.ReasonReset)
	}
}

// fill splices what src holds into the empty pipe. It never waits: EAGAIN means drained.
func (p *splicePump) fill(fd uintptr) bool {
	for {
		n, err := unix.Splice(int(fd), nil, p.pipe.w, nil, int(p.fillMax), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		if err == unix.EINTR {
			continue
		}
		p.inBuf, p.err = int32(n), err
		return true
	}
}

// drain splices the pipe's bytes into dst. When dst is full it returns true if it moved some
// bytes (the caller refreshes its deadline and calls again) and false if it moved none, which
// waits until dst is writable.
func (p *splicePump) drain(fd uintptr) bool {
	moved := false
	for p.inBuf > 0 {
		n, err := unix.Splice(p.pipe.r, nil, int(fd), nil, int(p.inBuf), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		switch err {
		case nil:
			p.inBuf -= int32(n)
			moved = true
		case unix.EINTR:
		case unix.EAGAIN:
			if !moved && p.noWait {
				p.full = true
				return true
			}
			return moved
		default:
			p.err = err
			return true
		}
	}
	return true
}

// run moves bytes until src ends, an error, or a time-out; it is the goroutine of one
// direction while that direction is active. After parkAfter of silence it parks the pump and
// returns; the parker starts run again when bytes arrive.
func (p *splicePump) run() {
	defer p.recoverPanic()
	now := time.Now().UnixNano()
	p.parkAt = now + int64(p.t.srv.parkDelay())
	for {
		p.armRead(now)
		p.op = opRead
		if err := p.srcRaw.Read(p.io); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				p.t.abort(allowlist.ReasonReset) // closed by the other pump or by shutdown: abort keeps the first reason
				p.finish()
				return
			}
			p.readArmed = 0 // it has passed (or another goroutine set src's deadline): set it anew
			if reason, ok := p.t.expired(); ok {
				p.t.abort(reason)
				p.finish()
				return
			}
			if now = time.Now().UnixNano(); now >= p.parkAt {
				if p.park() {
					return
				}
				// No parker (or the socket could not join its epoll set): wait here for
				// another park delay, as a pump that cannot park always has.
				p.parkAt = now + int64(p.t.srv.parkDelay())
			}
			continue
		}
		now = time.Now().UnixNano()
		p.parkAt = now + int64(p.t.srv.parkDelay())
		switch {
		case p.readErr != nil:
			p.releaseBuf()
			p.t.abort(allowlist.ReasonReset)
			p.finish()
			return
		case p.n == 0: // EOF: the source finished sending
			p.releaseBuf()
			p.sourceEnded()
			p.finish()
			return
		}
		more := p.n == smallBuf // a full buffer: a burst, continue with splice
		ok, waited := p.writeFirst()
		if !ok || (more && !p.moveBurst()) {
			p.finish()
			return
		}
		if more || waited {
			// A burst or a wait for dst can outlast the park delay: the park clock starts
			// when the bytes have moved, not when they arrived.
			now = time.Now().UnixNano()
			p.parkAt = now + int64(p.t.srv.parkDelay())
		}
	}
}

// armRead gives src the read deadline the next wait needs, when the one it has does not do:
// the earlier of the tunnel's (idle or half-close time-out) and the pump's park time. A deadline
// still ahead that comes earlier than needed is kept: when it passes, run looks at the clock
// and arms again. So a pump whose bytes keep flowing changes its timer once per park delay.
func (p *splicePump) armRead(now int64) {
	want := p.parkAt
	if dl := p.t.readDeadline(); !dl.IsZero() && dl.UnixNano() < want {
		want = dl.UnixNano()
	}
	if p.readArmed != 0 && p.readArmed <= want && now < p.readArmed {
		return
	}
	p.readArmed = want
	p.src.SetReadDeadline(time.Unix(0, want))
}

// sourceEnded passes src's end on to dst (shutdown for writing) and starts the half-close clock,
// unless the other direction has ended already: then the tunnel's end closes both sockets at
// once, and the close sends dst its FIN (its receive queue is empty: the other pump read it to
// the end), so a shutdown would be a system call for nothing.
func (p *splicePump) sourceEnded() {
	if p.t.pumpsDone.Load() > 0 {
		return
	}
	p.dst.CloseWrite()
	p.t.halfClosed(p.dst)
}

// recoverPanic is deferred by a splice pump's run: a panic aborts the tunnel, and the pump
// finishes unless it already did, so the tunnel still ends with its end event.
func (p *splicePump) recoverPanic() {
	if v := recover(); v != nil {
		p.t.srv.logPanic("tunnel pump", v)
		p.t.abort(allowlist.ReasonRelayFailed)
		if p.state.Load() != pumpDone {
			p.finish()
		}
	}
}

// finish marks the direction done and tells the tunnel. It runs exactly once: from the pump's
// goroutine, or from unpark when the pump is parked; the state's compare-and-swap makes the
// two exclusive.
func (p *splicePump) finish() {
	p.state.Store(pumpDone)
	if pk := p.t.srv.park.Load(); pk != nil {
		pk.forget(p)
	}
	p.t.pumpDone()
}

// moveBurst splices until src has nothing more to give. It returns false when the direction
// is finished (EOF, handled as a half-close) or the tunnel was aborted.
func (p *splicePump) moveBurst() bool {
	pp, err := getPipe()
	if err != nil {
		// Out of descriptors: keep the tunnel and move this burst through the 16 KiB buffer
		// instead (run reads again at once, the socket still holds the rest).
		p.t.srv.Log.Debug().Err(err).Msg("tunnel: no pipe for splice; copying instead")
		return true
	}
	p.pipe = pp
	defer func() { p.pipe = nil }()
	// fill never waits, so the read deadline run set (the park delay) must not cut a long
	// burst short: clear it; run sets it again when the burst ends.
	p.src.SetReadDeadline(time.Time{})
	p.readArmed = 0
	for {
		// Take from src only what dst has room for: bytes in the pipe that dst cannot take
		// pin the pipe (up to pipeSize of kernel memory) for as long as a peer that stopped
		// reading stays stopped. With dst (nearly) full, the pipe goes back and run carries on
		// with the pooled buffer, which waits for dst instead; the rest stays in src, where
		// TCP's flow control holds it back.
		if p.fillMax = int32(min(p.dstRoom(), pipeSize)); p.fillMax < smallBuf {
			putPipe(pp)
			return true
		}
		p.err = nil
		p.op = opFill
		if err := p.srcRaw.Read(p.io); err != nil {
			putPipe(pp) // the pipe is empty: fill did not run
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return true // a half-close poke: run looks at the clock
			}
			p.t.abort(allowlist.ReasonReset)
			return false
		}
		switch {
		case p.err == unix.EAGAIN:
			putPipe(pp)
			return true
		case p.err != nil:
			putPipe(pp)
			p.t.abort(allowlist.ReasonReset)
			return false
		case p.inBuf == 0: // EOF: the source finished sending
			putPipe(pp)
			p.sourceEnded()
			return false
		}
		// Drain the pipe, refreshing the write deadline and the activity clock whenever the
		// peer takes some: a slow reader that makes progress is not idle.
		for p.inBuf > 0 {
			before := p.inBuf
			p.dst.SetWriteDeadline(p.t.writeDeadline())
			p.armedW = true
			// What is left when dst fills up anyway (dstRoom is an estimate) moves to the
			// pooled buffer if it fits, so the wait for dst holds no pipe.
			p.noWait, p.full = p.inBuf <= smallBuf, false
			p.op = opDrain
			err := p.dstRaw.Write(p.io)
			if err != nil || p.err != nil {
				pp.discard() // may still hold bytes
				p.writeFailed(err)
				return false
			}
			if moved := before - p.inBuf; moved > 0 {
				p.count.Add(int64(moved))
				p.t.touch()
			}
			if p.full {
				if !p.pipeToBuf(pp) {
					return false
				}
				ok, _ := p.writeFirst()
				return ok
			}
		}
	}
}

// dstRoom estimates how many bytes dst's send buffer takes now: its size (SO_SNDBUF, which
// counts the kernel's own overhead too, so an eighth is kept back) less what is queued in it
// and not yet acknowledged (SIOCOUTQ). Unknown, it is pipeSize, as before there was a limit.
func (p *splicePump) dstRoom() int {
	p.fillMax = pipeSize
	p.dstRaw.Control(p.roomFn)
	return int(p.fillMax)
}

func (p *splicePump) measureRoom(fd uintptr) {
	size, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return
	}
	queued, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	if err != nil {
		return
	}
	p.fillMax = int32(max(min(size/2-queued, pipeSize), 0))
}

// pipeToBuf moves the pipe's bytes (at most smallBuf) into the pooled buffer, for writeFirst to
// send, and gives the empty pipe back. It returns false, having aborted the tunnel, when the
// pipe cannot be read.
func (p *splicePump) pipeToBuf(pp *pipe) bool {
	p.buf = smallBufPool.Get().(*[smallBuf]byte)
	p.n = 0
	for p.n < int(p.inBuf) {
		m, err := unix.Read(pp.r, p.buf[p.n:p.inBuf])
		if err == unix.EINTR {
			continue
		}
		if err != nil || m <= 0 {
			pp.discard()
			p.releaseBuf()
			p.t.abort(allowlist.ReasonRelayFailed)
			return false
		}
		p.n += m
	}
	p.inBuf = 0
	putPipe(pp)
	return true
}
