package proxy

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// parkAfter is how long a direction must be silent before its pump gives up its goroutine and
// parks. Shorter costs more wake-ups for slow chatty tunnels; longer keeps more goroutines.
const parkAfter = 250 * time.Millisecond

// parkDelay is parkAfter, or the server's override (tests).
func (s *Server) parkDelay() time.Duration {
	if s.parkAfter > 0 {
		return s.parkAfter
	}
	return parkAfter
}

// parked counts the pumps the parker holds now.
func (s *Server) parked() int {
	pk := s.park.Load()
	if pk == nil {
		return 0
	}
	n := 0
	pk.mu.Lock()
	for _, p := range pk.pumps {
		if p.state.Load() == pumpParked {
			n++
		}
	}
	pk.mu.Unlock()
	return n
}

// Pump states. A pump is running (its goroutine exists), parked (registered with the parker,
// no goroutine) or done. Moves out of parked are compare-and-swap, so exactly one of the
// parker (data arrived) and an abort (the tunnel is closing) takes a parked pump.
const (
	pumpRunning int32 = iota
	pumpParked
	pumpDone
)

// parker holds idle pumps without goroutines: their source sockets sit in one epoll set
// (level-triggered, one-shot), and one goroutine waits on it and restarts a pump when its
// socket has bytes, EOF or an error. A push tunnel that is silent for hours costs no stack.
type parker struct {
	epfd int
	// onPanic reports a panic the loop recovered from (logged and counted by the server).
	onPanic func(any)
	// restart gives a pump whose socket woke up its goroutine back.
	restart func(*splicePump)
	mu      sync.Mutex
	pumps   map[int32]*splicePump
	next    int32
}

func newParker(onPanic func(any)) (*parker, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	pk := &parker{epfd: fd, onPanic: onPanic, restart: restartPump, pumps: make(map[int32]*splicePump)}
	go pk.loop()
	return pk, nil
}

// arm registers or re-arms fd for pump p; it runs inside RawConn.Control, so fd cannot be
// closed (and its number reused by another connection) while it is armed.
func (pk *parker) arm(fd uintptr, p *splicePump) error {
	op := unix.EPOLL_CTL_MOD
	if p.parkID == 0 {
		pk.mu.Lock()
		for {
			pk.next++
			if pk.next <= 0 {
				pk.next = 1
			}
			if pk.pumps[pk.next] == nil {
				break
			}
		}
		p.parkID = pk.next
		pk.pumps[p.parkID] = p
		pk.mu.Unlock()
		op = unix.EPOLL_CTL_ADD
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: p.parkID}
	return unix.EpollCtl(pk.epfd, op, int(fd), &ev)
}

// forget drops a finished pump. Its socket leaves the epoll set when it is closed.
func (pk *parker) forget(p *splicePump) {
	pk.mu.Lock()
	if p.parkID != 0 {
		delete(pk.pumps, p.parkID)
	}
	pk.mu.Unlock()
}

// loop is the parker's goroutine: it restarts the pumps whose sockets became readable.
func (pk *parker) loop() {
	events := make([]unix.EpollEvent, 256)
	for pk.wake(events) {
	}
}

// wake waits once for parked sockets that became readable and restarts their pumps; false
// when the epoll set is gone. A panic is reported and the loop goes on: every parked tunnel
// depends on it.
func (pk *parker) wake(events []unix.EpollEvent) (alive bool) {
	defer func() {
		if v := recover(); v != nil {
			if pk.onPanic != nil {
				pk.onPanic(v)
			}
			alive = true
		}
	}()
	n, err := unix.EpollWait(pk.epfd, events, -1)
	if err != nil {
		return errors.Is(err, unix.EINTR)
	}
	for i := 0; i < n; i++ {
		pk.mu.Lock()
		p := pk.pumps[events[i].Fd]
		pk.mu.Unlock()
		if p != nil && p.state.CompareAndSwap(pumpParked, pumpRunning) {
			pk.restart(p)
		}
	}
	return true
}

func restartPump(p *splicePump) { go p.run() }

// park hands the pump to the parker and reports whether the calling goroutine should exit.
// If parking fails the pump keeps its goroutine, as before.
func (p *splicePump) park() bool {
	p.t.keepAlive()
	pk := p.t.srv.parker()
	if pk == nil {
		return false
	}
	p.src.SetReadDeadline(time.Time{})
	p.readArmed = 0
	p.state.Store(pumpParked)
	var armErr error
	err := p.srcRaw.Control(func(fd uintptr) { armErr = pk.arm(fd, p) })
	if err == nil && armErr == nil {
		return true
	}
	// Not armed: take the pump back, unless an abort took it in the meantime.
	return !p.state.CompareAndSwap(pumpParked, pumpRunning)
}

// unpark is called by an abort: a parked pump has no goroutine to notice the closed sockets,
// so the abort finishes it.
func (p *splicePump) unpark() {
	if p.state.CompareAndSwap(pumpParked, pumpDone) {
		p.finish()
	}
}

// parker returns the server's parker, creating it on first use; nil if epoll is unavailable.
func (s *Server) parker() *parker {
	s.parkOnce.Do(func() {
		pk, err := newParker(func(v any) { s.logPanic("tunnel parker", v) })
		if err != nil {
			s.Log.Warn().Err(err).Msg("no epoll for idle tunnels; they keep their goroutines")
			return
		}
		s.park.Store(pk)
		go s.sweep()
	})
	return s.park.Load()
}

// sweep ends tunnels whose idle or half-close time-out passed while their pumps were parked
// (a parked pump has no deadline of its own). It runs while the server has a parker.
func (s *Server) sweep() {
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	var expired []*tunnel
	var reasons []allowlist.Reason
	for range tick.C {
		expired, reasons = expired[:0], reasons[:0]
		s.mu.Lock()
		for t := range s.tunnels {
			if reason, ok := t.expired(); ok {
				expired = append(expired, t)
				reasons = append(reasons, reason)
			}
		}
		s.mu.Unlock()
		for i, t := range expired {
			t.abort(reasons[i])
		}
	}
}

// sweepEvery bounds how late a parked tunnel's time-out may be noticed.
const sweepEvery = 500 * time.Millisecond
