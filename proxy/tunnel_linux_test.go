// Regression tests from a review of the tunnel path: each names the failure it guards against.

package proxy

import (
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// bulkOrigin accepts one connection, discards what it receives and sends size bytes as fast as
// the connection takes them, then closes.
func bulkOrigin(t *testing.T, size int) uint16 {
	t.Helper()
	ln := loopbackListener(t)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		read := make(chan struct{})
		go func() { copyNoSplice(io.Discard, c); close(read) }()
		buf := make([]byte, 64<<10)
		c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
		c.(*net.TCPConn).CloseWrite()
		// Close only once the client's bytes were read to its end: closing a socket with
		// unread bytes sends a reset, which would cut the download short.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		<-read
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// TestLongBurstIsNotCut guards against a long burst cut as a reset: a download whose source
// never runs dry (the client reads a little slower than the origin sends) keeps the pump
// inside one moveBurst, and the read deadline run set (at most the park delay ahead) must not
// still be armed on src when a later fill waits (moveBurst clears it).
func TestLongBurstIsNotCut(t *testing.T) {
	for _, park := range []time.Duration{200 * time.Millisecond, 0 /* the real parkAfter, 250 ms */} {
		t.Run("parkAfter="+park.String(), func(t *testing.T) {
			const size = 24 << 20
			port := bulkOrigin(t, size)
			srv, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, true, allowlist.TLSOptional)}, loopbackHosts, nil)
			srv.parkAfter = park
			c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
			c.Write([]byte("x")) // not TLS, tls: optional: splice at once
			// Read about 6 MB/s: 4 s for the whole download, slower than the origin sends.
			buf := make([]byte, 32<<10)
			got := 0
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			start := time.Now()
			for got < size {
				n, err := c.Read(buf)
				got += n
				if err != nil {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if got != size {
				end := rec.wait(t, byAction(events.ActionEnd))
				t.Errorf("client got %d of %d bytes in %v; end event reason %q, %d bytes down",
					got, size, time.Since(start).Round(time.Millisecond), end.Reason, end.DestBytes)
			}
		})
	}
}

// TestShutdownLeavesLateTunnel guards against a tunnel started after Shutdown returned:
// Shutdown's grace ends while a connection is still in its set-up phase (here waiting for a
// ClientHello that a server-speaks-first client never sends); when its hello time-out passes
// it must not start a tunnel that nothing would ever close (addTunnel refuses once cut), and
// it ends with an end event whose reason is shutdown.
func TestShutdownLeavesLateTunnel(t *testing.T) {
	port := echoServer(t)
	srv, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, true, allowlist.TLSOptional)}, loopbackHosts,
		func(s *Settings) { s.Timeouts.Hello = 500 * time.Millisecond })
	c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	// The client says nothing yet: the proxy waits up to timeouts.hello for a ClientHello.
	ctx, cancel := contextWithTimeout(100 * time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown returned nil with a connection in set-up")
	}
	shutAt := time.Now()
	// The hello time-out passes ("server speaks first": splice), and the late tunnel is refused.
	rec.wait(t, func(e events.Event) bool {
		return e.Action == events.ActionEnd && e.Reason == allowlist.ReasonShutdown.String()
	})
	if n := srv.OpenTunnels(); n != 0 {
		t.Errorf("%d tunnel(s) open %v after Shutdown returned", n, time.Since(shutAt).Round(time.Millisecond))
	}
	if err := roundTrip(c, "still here"); err == nil {
		t.Errorf("a tunnel carries bytes %v after Shutdown returned", time.Since(shutAt).Round(time.Millisecond))
	}
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T, ln net.Listener) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// TestParkRacesAbort guards against an abort that lands on a pump's first park: forget (from
// unpark) and arm must agree on p.parkID (under -race a data race there fails the test), and
// no finished pump may stay in the parker's map.
func TestParkRacesAbort(t *testing.T) {
	ln := loopbackListener(t)
	srv := &Server{}
	srv.Update(&Settings{})
	pk := srv.parker()
	if pk == nil {
		t.Fatal("no parker: epoll is always there on Linux, so parking is broken")
	}
	const rounds = 2000
	for i := 0; i < rounds; i++ {
		c1, c2 := tcpPair(t, ln)
		o1, o2 := tcpPair(t, ln)
		tun := newTunnel(srv, c1, o1, nil, DefaultTimeouts, &events.Event{}, time.Now(), 0)
		srv.addTunnel(tun)
		cr, err1 := c1.SyscallConn()
		or, err2 := o1.SyscallConn()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		up := newSplicePump(tun, c1, o1, cr, or, &tun.up)
		down := newSplicePump(tun, o1, c1, or, cr, &tun.down)
		tun.pumps = [2]parkable{up, down}
		done := make(chan struct{})
		go func() { // what run does when its linger passes
			defer close(done)
			if !up.park() {
				up.finish() // run would go round, see the closed conn and finish
			}
		}()
		for spin := 0; spin < (i%256)*8; spin++ { // vary where the abort lands in park
			spinSink += spin
		}
		tun.abort(allowlist.ReasonShutdown)
		<-done
		down.finish() // down never ran: finish it as its goroutine would
		c2.Close()
		o2.Close()
	}
	waitFor(t, "the tunnels to end", func() bool { return srv.OpenTunnels() == 0 })
	pk.mu.Lock()
	leaked := len(pk.pumps)
	pk.mu.Unlock()
	if leaked != 0 {
		t.Errorf("%d finished pumps (of %d tunnels) left in the parker's map", leaked, rounds)
	}
}

// spinSink keeps the compiler from removing TestParkRacesAbort's spin loop.
var spinSink int

// inUsePipeFDs counts this process's pipe descriptors that are not in the idle pool.
func inUsePipeFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "pipe:") {
			n++
		}
	}
	pipePool.Lock()
	n -= 2 * len(pipePool.free)
	pipePool.Unlock()
	return n
}

// TestStalledReaderHoldsPipe guards against a persistent tunnel whose client stopped reading
// holding what its pump waits with for ever: the sweeper never expires a persistent tunnel and
// keepalive does not probe while data is unacknowledged, so only the write deadline
// (timeouts.idle) ends it. The tunnel must be seen open first, then end and free its pipe.
func TestStalledReaderHoldsPipe(t *testing.T) {
	const size = 64 << 20
	port := bulkOrigin(t, size)
	srv, addr, _ := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, true, allowlist.TLSOptional)}, loopbackHosts,
		func(s *Settings) {
			s.Timeouts.Idle = 300 * time.Millisecond
			s.Timeouts.HalfClose = 300 * time.Millisecond
		})
	srv.parkAfter = 100 * time.Millisecond
	before := inUsePipeFDs(t)
	c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	c.Write([]byte("x"))
	waitFor(t, "the tunnel to open", func() bool { return srv.OpenTunnels() == 1 })
	// The client never reads: the write stall must end the tunnel (idle 300 ms) and free its pipe.
	waitFor(t, "the stalled tunnel to end and its pipe to be freed", func() bool {
		return srv.OpenTunnels() == 0 && inUsePipeFDs(t)-before <= 0
	})
}

// TestAbortRacesStart guards against an abort that reads t.pumps while start writes it: a
// Shutdown cut or a sweep that finds the tunnel in the registry calls abort, and a torn read
// (itab set, data nil) would call unpark on a nil *splicePump. newPumps sets t.pumps before
// addTunnel registers the tunnel; -race checks the ordering.
func TestAbortRacesStart(t *testing.T) {
	ln := loopbackListener(t)
	srv := &Server{}
	srv.Update(&Settings{})
	for i := 0; i < 50; i++ {
		c1, c2 := tcpPair(t, ln)
		o1, o2 := tcpPair(t, ln)
		tun := newTunnel(srv, c1, o1, nil, DefaultTimeouts, &events.Event{}, time.Now(), 0)
		go tun.start()
		for srv.OpenTunnels() == 0 { // what Shutdown's cut and the sweeper see
		}
		tun.abort(allowlist.ReasonShutdown)
		waitFor(t, "the tunnel to end", func() bool { return srv.OpenTunnels() == 0 })
		c2.Close()
		o2.Close()
	}
}

// TestBurstPipeReturnsToPool: a burst moves through splice with a pipe from the pool, and when
// it is over the pipe is back in the pool, not held by the tunnel. The pool starts empty, so a
// pipe in it afterwards is the one the burst took.
func TestBurstPipeReturnsToPool(t *testing.T) {
	pipePool.Lock()
	for _, p := range pipePool.free {
		p.discard()
	}
	pipePool.free = nil
	pipePool.Unlock()
	const size = 8 << 20
	port := bulkOrigin(t, size)
	srv, addr, _ := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, true, allowlist.TLSOptional)}, loopbackHosts, nil)
	before := inUsePipeFDs(t)
	c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	c.Write([]byte("x"))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := io.Copy(io.Discard, c); n != size || err != nil {
		t.Fatalf("read %d of %d bytes: %v", n, size, err)
	}
	c.Close()
	waitFor(t, "the tunnel to end", func() bool { return srv.OpenTunnels() == 0 })
	pipePool.Lock()
	pooled := len(pipePool.free)
	pipePool.Unlock()
	if pooled == 0 {
		t.Error("no pipe in the pool after an 8 MiB burst: it was never taken, or never given back")
	}
	if held := inUsePipeFDs(t) - before; held > 0 {
		t.Errorf("%d pipe descriptors still held after the tunnel ended", held)
	}
}

// TestPumpSize guards the idle figure: every tunnel keeps its two pumps, parked or not, and 192
// bytes is a Go size class; a field more takes each pump to the next (208).
func TestPumpSize(t *testing.T) {
	if n := unsafe.Sizeof(splicePump{}); n > 192 {
		t.Errorf("splicePump is %d bytes, want at most 192", n)
	}
}
