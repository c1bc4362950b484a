package proxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/events"
)

func TestValidRequestLine(t *testing.T) {
	for line, want := range map[string]bool{
		"GET http://example.com/ HTTP/1.1": true,
		"GET /proxy.pac HTTP/1.0":          true,
		"POST / HTTP/1.1":                  true,
		"get / HTTP/1.1":                   false,
		"GET / HTTP/2":                     false,
		"GET /":                            false,
		"GET  HTTP/1.1":                    false,
		" / HTTP/1.1":                      false,
		"GET / HTTP/1.1 extra":             false,
		"\x16\x03\x01\x02\x00":             false,
		"":                                 false,
	} {
		if got := validRequestLine([]byte(line)); got != want {
			t.Errorf("validRequestLine(%q) = %v, want %v", line, got, want)
		}
	}
}

// readHead runs readPlainHead over input with a head limit of max bytes.
func readHead(input string, max int) ([]byte, error, *session) {
	ss := &session{set: &Settings{Limits: Limits{MaxHeaderBytes: max}}}
	ss.lr = io.LimitedReader{R: strings.NewReader(input), N: int64(max)}
	ss.br = bufio.NewReaderSize(&ss.lr, 4096)
	head, err := ss.readPlainHead()
	return head, err, ss
}

func TestReadPlainHead(t *testing.T) {
	long := "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n"
	for _, tt := range []struct {
		name, in string
		max      int
		want     string // the head returned; "" when an error is expected
		tooLarge bool
	}{
		{"simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY", 1024, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"bare LF", "GET / HTTP/1.0\nHost: a\n\n", 1024, "GET / HTTP/1.0\nHost: a\n\n", false},
		{"line longer than the buffer", long, 16 << 10, long, false},
		{"over the limit", long, 4096, "", true},
		{"bad request line", "HELLO\r\n\r\n", 1024, "", false},
		{"truncated", "GET / HTTP/1.1\r\nHost: a\r\n", 1024, "", false},
	} {
		head, err, ss := readHead(tt.in, tt.max)
		if tt.want != "" {
			if err != nil || string(head) != tt.want {
				t.Errorf("%s: head %q, %v; want %q", tt.name, head, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", tt.name)
		}
		if tt.tooLarge && ss.lr.N > 0 {
			t.Errorf("%s: the limit was not reached (N=%d)", tt.name, ss.lr.N)
		}
	}
}

func FuzzReadPlainHead(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	f.Add("GET http://x/ HTTP/1.0\n\n")
	f.Add("\x00\xff\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		head, err, _ := readHead(in, 2048)
		if len(head) > 2048 {
			t.Fatalf("head of %d bytes past a 2048-byte limit", len(head))
		}
		if err == nil {
			if !strings.HasPrefix(in, string(head)) || !(strings.HasSuffix(string(head), "\n\n") || strings.HasSuffix(string(head), "\r\n\r\n") || strings.HasSuffix(string(head), "\n\r\n")) {
				t.Fatalf("head %q of %q does not end a head", head, in)
			}
		}
	})
}

func TestSilentClientGetsNoEvent(t *testing.T) {
	_, addr, rec := testProxy(t, nil, nil, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// A second client that says something bad does get an event, and it is the only one.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("BAD REQUEST LINE\r\n\r\n"))
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(c2)
	ev := rec.wait(t, func(e events.Event) bool { return true })
	if ev.SourcePort != uint16(c2.LocalAddr().(*net.TCPAddr).Port) || ev.Reason != reasonBadRequest {
		t.Errorf("first event %+v; want the bad request of the second client", ev)
	}
}
