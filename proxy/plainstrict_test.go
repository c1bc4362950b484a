package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// Heads that pass readHead but that net/http's server answers itself, unlogged.
var netHTTPRefuses = []struct{ name, head string }{
	{"two Host headers", "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nHost: other.test\r\n\r\n"},
	{"Host with a space", "GET http://origin.test/ HTTP/1.1\r\nHost: a b\r\n\r\n"},
	{"no Host in 1.1", "GET http://origin.test/ HTTP/1.1\r\nX: y\r\n\r\n"},
	{"negative Content-Length", "POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nContent-Length: -1\r\n\r\n"},
	{"two Content-Lengths", "POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"},
	{"control byte in the target", "GET http://origin.test/\x01 HTTP/1.1\r\nHost: origin.test\r\n\r\n"},
	{"DEL in the target", "GET http://origin.test/\x7f HTTP/1.1\r\nHost: origin.test\r\n\r\n"},
	{"unknown Transfer-Encoding", "POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: gzip\r\n\r\n"},
	{"Expect", "POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nExpect: 200-ok\r\n\r\n"},
	{"bad URL", "GET http://[::1/ HTTP/1.1\r\nHost: origin.test\r\n\r\n"},
}

// Heads that both accept.
var netHTTPAccepts = []string{
	"GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n",
	"GET http://origin.test/ HTTP/1.0\r\n\r\n",
	"POST http://origin.test/ HTTP/1.1\r\nhost: origin.test:80\r\nContent-Length: 0\r\nExpect: 100-Continue\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: [::1]:3128\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: proxy\r\n\r\n",
}

func TestCheckAsNetHTTP(t *testing.T) {
	for _, tt := range netHTTPRefuses {
		if err := checkAsNetHTTP([]byte(tt.head)); !errors.Is(err, errNetHTTPRefuses) {
			t.Errorf("%s: %v; want errNetHTTPRefuses", tt.name, err)
		}
	}
	for _, head := range netHTTPAccepts {
		if err := checkAsNetHTTP([]byte(head)); err != nil {
			t.Errorf("%q: %v", head, err)
		}
	}
}

// Every plain-HTTP refusal gets its event: a head net/http would answer itself is refused by
// serveConn, with bad_request, before the HTTP server sees it.
func TestBadPlainHeadsGetAnEvent(t *testing.T) {
	_, addr, rec := testProxy(t, nil, nil, nil)
	for _, tt := range netHTTPRefuses {
		t.Run(tt.name, func(t *testing.T) {
			reply, port := roundTripRaw(t, addr, tt.head)
			if !strings.HasPrefix(reply, "HTTP/1.1 400 ") {
				t.Errorf("reply %q; want 400", reply)
			}
			e := rec.wait(t, func(e events.Event) bool { return e.SourcePort == port })
			if e.Reason != allowlist.ReasonBadRequest.String() {
				t.Errorf("event %+v; want bad_request", e)
			}
		})
	}
}

// roundTripRaw sends head on a new connection and returns the whole reply and the local port.
func roundTripRaw(t *testing.T, addr, head string) (string, uint16) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	reply, _ := io.ReadAll(c)
	return string(reply), uint16(c.LocalAddr().(*net.TCPAddr).Port)
}

// FuzzPlainHeadAsNetHTTP checks the property the plain path relies on: a head that readHead
// and checkPlainHead accept reaches the handler of a real net/http server, which never answers
// it on its own.
func FuzzPlainHeadAsNetHTTP(f *testing.F) {
	for _, tt := range netHTTPRefuses {
		f.Add(tt.head)
	}
	for _, h := range netHTTPAccepts {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, in string) {
		head, target, err, _ := readHeadOf(in, 2048, true)
		if err != nil || strings.HasPrefix(in, "CONNECT ") {
			return
		}
		if _, err := checkPlainHead(head, target); err != nil {
			return
		}
		if line := netHTTPAnswer(t, head); !reachedHandler(line) {
			t.Fatalf("net/http answered %q itself to a head the proxy accepts: %q", line, head)
		}
	})
}

func TestNetHTTPAnswer(t *testing.T) {
	for _, tt := range netHTTPRefuses {
		if line := netHTTPAnswer(t, []byte(tt.head)); reachedHandler(line) {
			t.Errorf("%s: net/http's handler got it; the list is meant to hold heads net/http refuses", tt.name)
		}
	}
	for _, h := range netHTTPAccepts {
		if line := netHTTPAnswer(t, []byte(h)); !reachedHandler(line) {
			t.Errorf("%q: net/http answered %q", h, line)
		}
	}
}

// reachedHandler reports whether netHTTPAnswer's status line is its handler's.
func reachedHandler(line string) bool {
	return strings.HasPrefix(line, "HTTP/1.") && strings.HasPrefix(line[len("HTTP/1.x"):], " 204 ")
}

// netHTTPAnswer serves head with a net/http server configured as plainServer's, over a pipe,
// whose handler answers 204, and returns the status line it wrote.
func netHTTPAnswer(t *testing.T, head []byte) string {
	t.Helper()
	client, server := net.Pipe()
	defer client.Close()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}), DisableGeneralOptionsHandler: true}
	srv.SetKeepAlivesEnabled(false)
	ln := &oneConnListener{c: server, closed: make(chan struct{})}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	defer func() { srv.Close(); <-served }()
	client.SetDeadline(time.Now().Add(5 * time.Second))
	go client.Write(head) // a pipe write waits for the reader; the server may stop reading early
	line, _ := bufio.NewReader(client).ReadString('\n')
	return line
}

// oneConnListener hands out one connection, then waits until it is closed.
type oneConnListener struct {
	mu     sync.Mutex
	c      net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *oneConnListener) Addr() net.Addr { return &net.TCPAddr{} }
