package proxy

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestValidRequestLine(t *testing.T) {
	for line, want := range map[string]bool{
		"GET http://example.com/ HTTP/1.1": true,
		"GET /proxy.pac HTTP/1.0":          true,
		"POST / HTTP/1.1":                  true,
		"CONNECT a.example:443 HTTP/1.1":   true,
		"get / HTTP/1.1":                   false,
		"GET / HTTP/2":                     false,
		"GET /":                            false,
		"GET  HTTP/1.1":                    false,
		" / HTTP/1.1":                      false,
		"GET / HTTP/1.1 extra":             false,
		"GET /\r HTTP/1.1":                 false,
		"\x16\x03\x01\x02\x00":             false,
		"":                                 false,
	} {
		if got := validRequestLine([]byte(line)); got != want {
			t.Errorf("validRequestLine(%q) = %v, want %v", line, got, want)
		}
	}
}

// readHeadOf runs readHead over input with a head limit of max bytes and a 4 KiB reader, as a
// session has.
func readHeadOf(input string, max int, keep bool) ([]byte, string, error, *session) {
	return readHeadBuf(input, max, keep, 4096)
}

// readHeadBuf is readHeadOf with a reader of bufSize bytes.
func readHeadBuf(input string, max int, keep bool, bufSize int) ([]byte, string, error, *session) {
	ss := &session{set: &Settings{Limits: Limits{MaxHeaderBytes: max}}}
	ss.lr = io.LimitedReader{R: strings.NewReader(input), N: int64(max)}
	ss.br = bufio.NewReaderSize(&ss.lr, bufSize)
	head, target, err := ss.readHead(keep)
	return head, target, err, ss
}

func TestReadHead(t *testing.T) {
	long := "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n"
	longTarget := "/" + strings.Repeat("q", 5000)
	longLine := "GET " + longTarget + " HTTP/1.1\r\n\r\n"
	// A header line of 4097 bytes: the reader's 4096-byte chunk ends between its "\r" and "\n".
	splitCRLF := "GET / HTTP/1.1\r\n" + "X: " + strings.Repeat("b", 4096-len("X: ")-1) + "\r\n\r\n"
	// The same, but the "\r" is a bare one: the byte after it is not "\n".
	splitBareCR := "GET / HTTP/1.1\r\n" + "X: " + strings.Repeat("b", 4096-len("X: ")-1) + "\rb\r\n\r\n"
	longName := "CONNECT a:443 HTTP/1.1\r\n" + strings.Repeat("N", 5000) + ": v\r\n\r\n"
	for _, tt := range []struct {
		name, in   string
		max        int
		wantTarget string // "" when an error is expected
		wantErr    error  // when not nil, the error expected
		tooLarge   bool
	}{
		{"simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY", 1024, "/", nil, false},
		{"connect", "CONNECT courier.push.apple.com:5223 HTTP/1.1\r\nHost: courier.push.apple.com:5223\r\nProxy-Connection: keep-alive\r\n\r\n\x16\x03\x01", 1024, "courier.push.apple.com:5223", nil, false},
		{"bare LF", "GET / HTTP/1.0\nHost: a\n\n", 1024, "/", nil, false},
		{"tab and obs-text in a value", "GET / HTTP/1.1\r\nUser-Agent: a\tb \xe9\r\n\r\n", 1024, "/", nil, false},
		{"empty value", "GET / HTTP/1.1\r\nX-Empty:\r\n\r\n", 1024, "/", nil, false},
		{"header line longer than the buffer", long, 16 << 10, "/", nil, false},
		{"request line longer than the buffer", longLine, 16 << 10, longTarget, nil, false},
		{"line split between CR and LF", splitCRLF, 16 << 10, "/", nil, false},
		{"header name longer than the buffer", longName, 16 << 10, "a:443", nil, false},
		{"bare CR where the buffer splits", splitBareCR, 16 << 10, "", errBadHeaderLine, false},
		{"over the limit", long, 4096, "", nil, true},
		{"bad request line", "HELLO\r\n\r\n", 1024, "", errBadRequestLine, false},
		{"long bad request line", "GET " + longTarget + " HTTP/9\r\n\r\n", 16 << 10, "", errBadRequestLine, false},
		{"no colon", "CONNECT a:443 HTTP/1.1\r\nHost a\r\n\r\n", 1024, "", errBadHeaderLine, false},
		{"space before the colon", "CONNECT a:443 HTTP/1.1\r\nHost : a\r\n\r\n", 1024, "", errBadHeaderLine, false},
		{"empty name", "CONNECT a:443 HTTP/1.1\r\n: a\r\n\r\n", 1024, "", errBadHeaderLine, false},
		{"control byte in a value", "CONNECT a:443 HTTP/1.1\r\nX: a\x00b\r\n\r\n", 1024, "", errBadHeaderLine, false},
		{"bare CR in a value", "CONNECT a:443 HTTP/1.1\r\nX: a\rb\r\n\r\n", 1024, "", errBadHeaderLine, false},
		{"control byte in a long value", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 5000) + "\x01\r\n\r\n", 16 << 10, "", errBadHeaderLine, false},
		{"folded line", "CONNECT a:443 HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 1024, "", errHeaderFolding, false},
		{"truncated", "GET / HTTP/1.1\r\nHost: a\r\n", 1024, "", io.EOF, false},
	} {
		for _, keep := range []bool{true, false} {
			head, target, err, ss := readHeadOf(tt.in, tt.max, keep)
			if tt.wantTarget != "" {
				if err != nil || target != tt.wantTarget {
					t.Errorf("%s (keep %v): target %.40q, %v; want %.40q", tt.name, keep, target, err, tt.wantTarget)
				}
				if keep && !strings.HasPrefix(tt.in, string(head)) || keep != (head != nil) {
					t.Errorf("%s (keep %v): head %.60q is not the input's start", tt.name, keep, head)
				}
				if keep && ss.br.Buffered()+len(head) != len(tt.in) {
					t.Errorf("%s: %d bytes of head and %d buffered, want %d in all", tt.name, len(head), ss.br.Buffered(), len(tt.in))
				}
				continue
			}
			if err == nil {
				t.Errorf("%s (keep %v): no error", tt.name, keep)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("%s (keep %v): error %v, want %v", tt.name, keep, err, tt.wantErr)
			}
			if tt.tooLarge && ss.lr.N > 0 {
				t.Errorf("%s: the limit was not reached (N=%d)", tt.name, ss.lr.N)
			}
		}
	}
}

// FuzzReadHead checks that readHead stays within its limit, returns a head that ends a head,
// gives the same answer whatever its reader's buffer size (16 bytes puts the long-line paths
// under the fuzzer) and whether it keeps the head, and never accepts a CONNECT that Go's own
// HTTP parser reads with a different target.
func FuzzReadHead(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	f.Add("GET http://x/ HTTP/1.0\n\n")
	f.Add("CONNECT courier.push.apple.com:5223 HTTP/1.1\r\nHost: courier.push.apple.com:5223\r\n\r\n")
	f.Add("CONNECT [::1]:443 HTTP/1.0\r\nX:\t\r\n\r\n")
	f.Add("\x00\xff\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		head, target, err, _ := readHeadOf(in, 2048, true)
		if len(head) > 2048 {
			t.Fatalf("head of %d bytes past a 2048-byte limit", len(head))
		}
		for _, keep := range []bool{true, false} {
			h16, t16, err16, _ := readHeadBuf(in, 2048, keep, 16)
			if (err == nil) != (err16 == nil) || t16 != target || (keep && string(h16) != string(head)) {
				t.Fatalf("16-byte reader, keep %v: %q, %q, %v; 4 KiB reader: %q, %q, %v", keep, h16, t16, err16, head, target, err)
			}
		}
		if err != nil {
			return
		}
		if !strings.HasPrefix(in, string(head)) || !(strings.HasSuffix(string(head), "\n\n") || strings.HasSuffix(string(head), "\r\n\r\n") || strings.HasSuffix(string(head), "\n\r\n")) {
			t.Fatalf("head %q of %q does not end a head", head, in)
		}
		if _, t2, err2, _ := readHeadOf(in, 2048, false); err2 != nil || t2 != target {
			t.Fatalf("without keeping the head: target %q, %v; with it %q", t2, err2, target)
		}
		if strings.HasPrefix(in, "CONNECT ") {
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(string(head))))
			if err == nil && req.RequestURI != target {
				t.Fatalf("target %q, net/http reads %q", target, req.RequestURI)
			}
		}
	})
}

// BenchmarkReadHead reads the CONNECT head the benchmark's clients send; only the target is
// allocated.
func BenchmarkReadHead(b *testing.B) {
	const in = "CONNECT courier.push.apple.com:5223 HTTP/1.1\r\nHost: courier.push.apple.com:5223\r\nUser-Agent: bench\r\n\r\n"
	r := strings.NewReader(in)
	ss := &session{set: &Settings{Limits: Limits{MaxHeaderBytes: 4096}}}
	ss.br = bufio.NewReaderSize(&ss.lr, 4096)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(in)
		ss.lr = io.LimitedReader{R: r, N: 4096}
		ss.br.Reset(&ss.lr)
		if _, target, err := ss.readHead(false); err != nil || target != "courier.push.apple.com:5223" {
			b.Fatal(target, err)
		}
	}
}

// BenchmarkReadRequest is what readHead replaced on the CONNECT path, for comparison.
func BenchmarkReadRequest(b *testing.B) {
	const in = "CONNECT courier.push.apple.com:5223 HTTP/1.1\r\nHost: courier.push.apple.com:5223\r\nUser-Agent: bench\r\n\r\n"
	r := strings.NewReader(in)
	br := bufio.NewReaderSize(r, 4096)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(in)
		br.Reset(r)
		if req, err := http.ReadRequest(br); err != nil || req.RequestURI != "courier.push.apple.com:5223" {
			b.Fatal(err)
		}
	}
}
