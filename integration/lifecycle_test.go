package integration

import (
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// plainRule is a tls: optional rule for name on port, opened to 127.0.0.1.
func plainRule(name, domain string, port int, persistent bool) Rule {
	return Rule{Name: name, Domains: []string{domain}, CIDRs: []string{"127.0.0.1/32"}, Ports: []int{port},
		Persistent: persistent, TLS: "optional"}
}

// TestHalfClose: a tunnel carries a half-close in each direction. The timeouts stay at their
// defaults, so nothing but the peers ends these tunnels.
func TestHalfClose(t *testing.T) {
	t.Parallel()

	t.Run("client_first", func(t *testing.T) {
		t.Parallel()
		// The origin reads to EOF, then answers, then closes.
		origin := startOrigin(t, func(c net.Conn) {
			req, err := io.ReadAll(c)
			if err != nil {
				return
			}
			io.WriteString(c, "reply to "+string(req))
		})
		p := StartProxy(t, Config{Rules: []Rule{plainRule("half-close", "echo.mdm.test", origin.Port, false)},
			Hosts: loopbackHosts("echo.mdm.test")})
		pc := mustConnect(t, p.Addr, "echo.mdm.test:"+strconv.Itoa(origin.Port))
		if _, err := io.WriteString(pc, "the whole request"); err != nil {
			t.Fatal(err)
		}
		if err := pc.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		pc.SetReadDeadline(time.Now().Add(waitLimit))
		got, err := io.ReadAll(pc)
		if err != nil {
			t.Fatalf("reading the reply after the client's half-close: %v (got %q)", err, got)
		}
		if string(got) != "reply to the whole request" {
			t.Fatalf("got %q, want the origin's reply then EOF", got)
		}
		end := p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"})
		checkEnd(t, end, "half-close", "eof")
		if *end.Source.Bytes != int64(len("the whole request")) || *end.Destination.Bytes != int64(len(got)) {
			t.Errorf("end event byte counts: %s", end.Raw)
		}
	})

	t.Run("origin_first", func(t *testing.T) {
		t.Parallel()
		// The origin greets, half-closes, and still reads everything the client sends.
		received := make(chan string, 1)
		origin := startOrigin(t, func(c net.Conn) {
			io.WriteString(c, "greeting")
			c.(*net.TCPConn).CloseWrite()
			b, _ := io.ReadAll(c)
			received <- string(b)
		})
		p := StartProxy(t, Config{Rules: []Rule{plainRule("half-close", "echo.mdm.test", origin.Port, false)},
			Hosts: loopbackHosts("echo.mdm.test")})
		pc := mustConnect(t, p.Addr, "echo.mdm.test:"+strconv.Itoa(origin.Port))
		// The first bytes decide the tunnel (not TLS; the rule allows that).
		io.WriteString(pc, "ping1 ")
		pc.SetReadDeadline(time.Now().Add(waitLimit))
		got, err := io.ReadAll(pc)
		if err != nil || string(got) != "greeting" {
			t.Fatalf("got %q, %v; want the greeting then EOF", got, err)
		}
		// The client's direction is still open.
		if _, err := io.WriteString(pc, "ping2 after the origin's EOF"); err != nil {
			t.Fatalf("writing after the origin half-closed: %v", err)
		}
		pc.CloseWrite()
		select {
		case r := <-received:
			if r != "ping1 ping2 after the origin's EOF" {
				t.Fatalf("the origin received %q", r)
			}
		case <-time.After(waitLimit):
			t.Fatal("the origin did not get the client's bytes and EOF")
		}
		checkEnd(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"}), "half-close", "eof")
	})
}

// TestHalfCloseTimeout: a half-closed tunnel whose other side never finishes is reaped after
// timeouts.half_close. The rule is persistent, so the idle time-out plays no part.
func TestHalfCloseTimeout(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	gotEOF := make(chan struct{}, 2)
	// silent reads to EOF and then neither sends nor closes until the test ends.
	silent := startOrigin(t, func(c net.Conn) {
		io.Copy(io.Discard, c)
		gotEOF <- struct{}{}
		<-stop
	})
	// closer half-closes at once and then reads forever without answering.
	closer := startOrigin(t, func(c net.Conn) {
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	})
	t.Cleanup(func() { close(stop) })
	p := StartProxy(t, Config{
		Rules: []Rule{
			plainRule("silent", "silent.mdm.test", silent.Port, true),
			plainRule("closer", "closer.mdm.test", closer.Port, true),
		},
		Hosts:    loopbackHosts("silent.mdm.test", "closer.mdm.test"),
		Timeouts: map[string]string{"half_close": "1s"},
	})

	t.Run("client_finished", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, "silent.mdm.test:"+strconv.Itoa(silent.Port))
		io.WriteString(pc, "last words")
		pc.CloseWrite()
		select {
		case <-gotEOF:
		case <-time.After(waitLimit):
			t.Fatal("the origin never saw the client's EOF")
		}
		expectClosed(t, pc)
		end := p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"})
		if end.Event.Reason != "half_close_timeout" || end.Rule.Name != "silent" {
			t.Errorf("end event: reason %q, want half_close_timeout: %s", end.Event.Reason, end.Raw)
		}
	})

	t.Run("origin_finished", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, "closer.mdm.test:"+strconv.Itoa(closer.Port))
		io.WriteString(pc, "hello")
		// The origin's EOF arrives; the client keeps its side open and silent.
		expectClosed(t, pc)
		end := p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"})
		if end.Event.Reason != "half_close_timeout" || end.Rule.Name != "closer" {
			t.Errorf("end event: reason %q, want half_close_timeout: %s", end.Event.Reason, end.Raw)
		}
	})
}

// TestIdleTimeout: with timeouts.idle 1s, a quiet tunnel of a non-persistent rule is closed
// (idle_timeout); a persistent rule's tunnel stays open past it.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	echo := startOrigin(t, plainEcho)
	p := StartProxy(t, Config{
		Rules: []Rule{
			plainRule("idle-echo", "idle.mdm.test", echo.Port, false),
			plainRule("push-echo", "push.mdm.test", echo.Port, true),
		},
		Hosts:    loopbackHosts("idle.mdm.test", "push.mdm.test"),
		Timeouts: map[string]string{"idle": "1s"},
	})
	port := strconv.Itoa(echo.Port)

	t.Run("non_persistent_closes", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, "idle.mdm.test:"+port)
		mustRoundTrip(t, pc, []byte("one round trip, then silence"))
		expectClosed(t, pc)
		end := p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"})
		checkEnd(t, end, "idle-echo", "idle_timeout")
	})

	t.Run("persistent_stays_open", func(t *testing.T) {
		t.Parallel()
		pc := mustConnect(t, p.Addr, "push.mdm.test:"+port)
		mustRoundTrip(t, pc, []byte("before"))
		// Three idle time-outs of silence (setup, not an assertion: the check is the round
		// trip after it).
		time.Sleep(3 * time.Second)
		mustRoundTrip(t, pc, []byte("still alive after 3s of silence"))
		if evs := p.FindEvents(t, Match{SrcPort: pc.SrcPort(), Action: "end"}); len(evs) != 0 {
			t.Fatalf("the persistent tunnel was ended: %s", evs[0].Raw)
		}
		pc.CloseWrite()
		expectClosed(t, pc)
		checkEnd(t, p.WaitEvent(t, Match{SrcPort: pc.SrcPort(), Action: "end"}), "push-echo", "eof")
	})
}
