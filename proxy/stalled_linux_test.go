package proxy

import (
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// BenchmarkStalledReaders measures what tunnels whose client stopped reading cost the proxy
// while the origin still has bytes for them: pipes held, bytes waiting in those pipes, and Go
// heap, per tunnel. Each origin sends 4 MiB; each client reads nothing. The figures are taken
// once every pump has stopped moving (the totals stop changing). Run it with
//
//	go test -run '^$' -bench StalledReaders -benchtime 1x ./proxy/
//
// (STALLED_N sets the number of tunnels, 1000 by default; each costs about 6 descriptors).
func BenchmarkStalledReaders(b *testing.B) {
	n := 1000
	if s := os.Getenv("STALLED_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for b.Loop() {
		pipes, queued, heap := stalledReaders(b, n)
		b.ReportMetric(float64(pipes)/float64(n), "pipes/tunnel")
		b.ReportMetric(float64(queued)/float64(n)/1024, "pipe-KiB/tunnel")
		b.ReportMetric(float64(heap)/float64(n)/1024, "heap-KiB/tunnel")
	}
}

// TestStalledReadersHoldNoPipe: tunnels whose client stopped reading wait for it with the
// pooled 16 KiB buffer, not with a pipe full of the origin's bytes (the pipe goes back to the
// pool; the bytes stay in the origin's socket, held back by TCP's flow control).
func TestStalledReadersHoldNoPipe(t *testing.T) {
	const n = 8
	if pipes, queued, _ := stalledReaders(t, n); pipes > 0 || queued > 0 {
		t.Errorf("%d stalled tunnels hold %d pipes with %d bytes in them; want none", n, pipes, queued)
	}
}

// stalledReaders opens n tunnels whose origins send 4 MiB each to clients that read nothing,
// and returns, once nothing moves any more, the pipes held outside the pool, the bytes in
// them and the growth of the Go heap.
func stalledReaders(b testing.TB, n int) (pipes, queued int, heap int64) {
	const size = 4 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var origins []net.Conn
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
			go func() {
				buf := stalledChunk[:] // shared, so the origins' buffers stay out of the heap figure
				c.SetWriteDeadline(time.Now().Add(time.Minute))
				for sent := 0; sent < size; sent += len(buf) {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	srv, addr, _ := testProxy(b, []allowlist.Rule{loopbackRule("plain", port, true, allowlist.TLSOptional)}, loopbackHosts,
		func(s *Settings) { s.Timeouts.Idle = 10 * time.Minute })
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	pipes0, _ := pipeUsage(b)
	clients := make([]net.Conn, 0, n)
	for range n {
		c := connectTo(b, addr, "origin.test:"+strconv.Itoa(int(port)))
		c.Write([]byte("x")) // not TLS, tls: optional: spliced at once
		clients = append(clients, c)
		origins = append(origins, <-accepted)
	}
	defer func() {
		for _, c := range origins {
			c.Close()
		}
	}()
	// Wait until nothing moves any more: two samples a while apart give the same totals.
	last := -1
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		pipes, queued = pipeUsage(b)
		if pipes*1<<40+queued == last {
			break
		}
		last = pipes*1<<40 + queued
		time.Sleep(500 * time.Millisecond) // a sampling interval, not synchronisation
	}
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	if srv.OpenTunnels() != n {
		b.Fatalf("%d tunnels open, want %d", srv.OpenTunnels(), n)
	}
	return pipes - pipes0, queued, int64(m1.HeapInuse) - int64(m0.HeapInuse)
}

var stalledChunk [64 << 10]byte

// pipeUsage returns the pipes this process holds outside the idle pool and the bytes waiting
// in all of its pipes (the pool's are empty).
func pipeUsage(tb testing.TB) (pipes, queued int) {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || !strings.HasPrefix(l, "pipe:") || seen[l] {
			continue
		}
		seen[l] = true
		fd, _ := strconv.Atoi(e.Name())
		if q, err := unix.IoctlGetInt(fd, unix.SIOCINQ); err == nil { // FIONREAD: the bytes in the pipe
			queued += q
		}
	}
	pipePool.Lock()
	pipes = len(seen) - len(pipePool.free)
	pipePool.Unlock()
	return pipes, queued
}
