package proxy

import (
	"io"
	"net"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

func roundTrip(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// parkingProxy is testProxy with pumps that park after 50 ms of silence.
func parkingProxy(t *testing.T, persistent bool, tweak func(*Settings)) (*Server, string, *recorder, uint16) {
	port := echoServer(t)
	srv, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, persistent, allowlist.TLSOptional)}, loopbackHosts, tweak)
	srv.parkAfter = 50 * time.Millisecond
	return srv, addr, rec, port
}

func TestIdleTunnelsParkAndWake(t *testing.T) {
	srv, addr, _, port := parkingProxy(t, true, nil)
	const n = 50
	g0 := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
		if err := roundTrip(conns[i], "hello"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every pump to park", func() bool { return srv.parked() == 2*n })
	// Parked pumps have no goroutines: what is left per tunnel is the test's own echo goroutine.
	waitFor(t, "pump goroutines to exit", func() bool { return runtime.NumGoroutine()-g0 <= n+5 })
	for i, c := range conns {
		if err := roundTrip(c, "wake up "+strconv.Itoa(i)); err != nil {
			t.Fatalf("tunnel %d after parking: %v", i, err)
		}
	}
	waitFor(t, "pumps to park again", func() bool { return srv.parked() == 2*n })
	if got := srv.OpenTunnels(); got != n {
		t.Errorf("%d tunnels open, want %d", got, n)
	}
}

func TestParkedTunnelTimesOut(t *testing.T) {
	srv, addr, rec, port := parkingProxy(t, false, func(s *Settings) { s.Timeouts.Idle = 700 * time.Millisecond })
	c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	if err := roundTrip(c, "x"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both pumps to park", func() bool { return srv.parked() == 2 })
	end := rec.wait(t, byAction(events.ActionEnd))
	if end.Reason != allowlist.ReasonIdleTimeout.String() {
		t.Errorf("end reason %q, want %q", end.Reason, allowlist.ReasonIdleTimeout.String())
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("client connection still open after the idle time-out")
	}
	waitFor(t, "the tunnel to leave the registry", func() bool { return srv.OpenTunnels() == 0 && srv.parked() == 0 })
}

func TestParkedHalfClosedTunnelIsReaped(t *testing.T) {
	// An origin that reads to EOF and never answers nor closes.
	ln := loopbackListener(t)
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
		<-hold
	}()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	srv, addr, rec := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, true, allowlist.TLSOptional)}, loopbackHosts,
		func(s *Settings) { s.Timeouts.HalfClose = 600 * time.Millisecond })
	srv.parkAfter = 50 * time.Millisecond
	c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	c.Write([]byte("x"))
	waitFor(t, "the origin->client pump to park", func() bool { return srv.parked() >= 1 })
	c.(*net.TCPConn).CloseWrite()
	end := rec.wait(t, byAction(events.ActionEnd))
	if end.Reason != allowlist.ReasonHalfCloseTimeout.String() || end.SourceBytes != 1 {
		t.Errorf("end event %+v, want reason %q and 1 byte up", end, allowlist.ReasonHalfCloseTimeout.String())
	}
}

func TestShutdownEndsParkedTunnels(t *testing.T) {
	srv, addr, rec, port := parkingProxy(t, true, nil)
	c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	if err := roundTrip(c, "x"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both pumps to park", func() bool { return srv.parked() == 2 })
	ctx, cancel := contextWithTimeout(50 * time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err == nil {
		t.Error("Shutdown with an open tunnel returned nil before its grace ended")
	}
	end := rec.wait(t, byAction(events.ActionEnd))
	if end.Reason != allowlist.ReasonShutdown.String() {
		t.Errorf("end reason %q, want %q", end.Reason, allowlist.ReasonShutdown.String())
	}
	waitFor(t, "no tunnels", func() bool { return srv.OpenTunnels() == 0 })
}

// TestBusyTunnelOutlivesIdleTimeout: a pump with bytes flowing keeps a read deadline that is
// earlier than it needs (it moves it once per park delay, not on every wake-up). Round trips
// every 40 ms, well inside the 300 ms idle time-out, for three times that long must keep the
// tunnel open; once they stop, the idle time-out ends it.
func TestBusyTunnelOutlivesIdleTimeout(t *testing.T) {
	srv, addr, rec, port := parkingProxy(t, false, func(s *Settings) { s.Timeouts.Idle = 300 * time.Millisecond })
	srv.parkAfter = 100 * time.Millisecond
	c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	began := time.Now()
	for i := 0; time.Since(began) < 900*time.Millisecond && i < 100; i++ {
		if err := roundTrip(c, "ping "+strconv.Itoa(i)); err != nil {
			t.Fatalf("round trip %d, %v after the start: %v", i, time.Since(began), err)
		}
		time.Sleep(40 * time.Millisecond) // the client's pace: the test's subject, not a wait
	}
	if n := srv.OpenTunnels(); n != 1 {
		t.Fatalf("%d tunnels open while busy, want 1", n)
	}
	end := rec.wait(t, byAction(events.ActionEnd))
	if end.Reason != allowlist.ReasonIdleTimeout.String() {
		t.Errorf("end reason %q, want %q", end.Reason, allowlist.ReasonIdleTimeout.String())
	}
}

// TestNoParkerDoesNotSpin: a pump that cannot park (no parker: its epoll set could not be
// made) waits another park delay before it looks again, as it always has, instead of going
// round on a deadline already past. A busy loop shows as CPU: over 400 ms of silence two
// spinning pumps burn about that much each; waiting pumps, a few milliseconds.
func TestNoParkerDoesNotSpin(t *testing.T) {
	srv, addr, _, port := parkingProxy(t, true, nil)
	srv.parkAfter = 20 * time.Millisecond
	srv.parkOnce.Do(func() {}) // the parker is never made
	c := connectTo(t, addr, "origin.test:"+strconv.Itoa(int(port)))
	if err := roundTrip(c, "hello"); err != nil {
		t.Fatal(err)
	}
	before := processCPU(t)
	time.Sleep(400 * time.Millisecond) // the silence under test
	if used := processCPU(t) - before; used > 200*time.Millisecond {
		t.Errorf("the process used %v of CPU in 400 ms of silence: a pump is spinning", used)
	}
	if srv.parked() != 0 {
		t.Errorf("%d pumps parked without a parker", srv.parked())
	}
	if err := roundTrip(c, "still there"); err != nil {
		t.Fatalf("the tunnel after the silence: %v", err)
	}
}

// processCPU is the test process's user and system CPU so far.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
