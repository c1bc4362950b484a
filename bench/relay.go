package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// The reference CONNECT relay: the least a Go CONNECT proxy does, so that the report can show
// what mdmproxy's tunnel set-up costs beyond it. It reads the CONNECT head, dials the target
// (the benchmark's two names map to 127.0.0.1), answers 200 and copies each direction through
// a pooled 32 KiB buffer on a goroutine of its own, then half-closes. No policy, no
// ClientHello, no events, no time-outs, no idle parking: a floor for set-up, not a proxy.

// RunRelay is the body of the relay process that benchrun starts (`CMD relay`): it prints
// its address ("listen ADDR") and serves until SIGTERM or SIGINT.
func RunRelay(args []string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("listen %s\n", ln.Addr())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sigs; ln.Close() }()
	ServeRelay(ln)
	return 0
}

// ServeRelay relays the CONNECTs that ln accepts until ln is closed.
func ServeRelay(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go relayConn(c)
	}
}

var relayBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func relayConn(c net.Conn) {
	br := bufio.NewReaderSize(c, 1024)
	target, err := relayHead(br)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
		c.Close()
		return
	}
	if host, port, err := net.SplitHostPort(target); err == nil && (host == TLSName || host == PlainName) {
		target = net.JoinHostPort("127.0.0.1", port)
	}
	o, err := net.Dial("tcp", target)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		c.Close()
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		c.Close()
		o.Close()
		return
	}
	if n := br.Buffered(); n > 0 { // the client did not wait for the 200
		b, _ := br.Peek(n)
		o.Write(b)
	}
	var done atomic.Int32
	finish := func() {
		if done.Add(1) == 2 {
			c.Close()
			o.Close()
		}
	}
	go relayCopy(o, c, finish)
	relayCopy(c, o, finish)
}

// relayHead reads a request head and returns the target of its CONNECT line.
func relayHead(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(line))
	if len(f) != 3 || f[0] != "CONNECT" {
		return "", errors.New("not a CONNECT")
	}
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			return "", err
		}
		if len(bytes.TrimRight(l, "\r\n")) == 0 {
			return f[1], nil
		}
	}
}

// relayCopy moves src to dst through a buffer, then half-closes dst. A buffer, not io.Copy:
// between two TCP connections io.Copy splices, which costs more for the small flights of a
// tunnel set-up (mdmproxy moves them the same way).
func relayCopy(dst, src net.Conn, finish func()) {
	defer finish()
	buf := relayBufs.Get().(*[32 << 10]byte)
	defer relayBufs.Put(buf)
	for {
		n, err := src.Read(buf[:])
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
	}
}

// StartRelay re-executes the runner (self) as `self relay` and reads the address it prints.
func StartRelay(ctx context.Context, self, dir string) (*Server, error) {
	p, err := StartProc("gorelay", filepath.Join(dir, "gorelay.log"), ChildEnv(), self, "relay")
	if err != nil {
		return nil, err
	}
	a, err := startLines(ctx, p, "listen ")
	if err != nil {
		return nil, err
	}
	return &Server{Proc: p, Addr: a[0]}, nil
}
