package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// plainConnOver is a plain connection reading input, as serveConn hands one over.
func plainConnOver(t testing.TB, input string) *plainConn {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	srv := &Server{}
	srv.Update(&Settings{})
	set := srv.settings.Load()
	ss := &session{srv: srv, set: set, conn: a}
	ss.lr = io.LimitedReader{R: strings.NewReader(input), N: int64(set.Limits.MaxHeaderBytes)}
	ss.br = bufio.NewReaderSize(&ss.lr, 4096)
	return newPlainConn(ss)
}

// passedOn reads everything the plain connection passes on, until it ends.
func passedOn(pc *plainConn) (string, error) {
	var out []byte
	buf := make([]byte, 7) // small reads: a request is passed on across many calls
	for {
		n, err := pc.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return string(out), err
		}
	}
}

// checkFramed checks that the plain connection passes on exactly req and then ends cleanly:
// had it framed the body shorter, the rest would have been refused as a head; longer, it
// would have failed short of bytes.
func checkFramed(t *testing.T, req string) {
	t.Helper()
	pc := plainConnOver(t, req)
	got, err := passedOn(pc)
	if err != io.EOF || got != req || pc.refusal != nil {
		t.Fatalf("passed on %q, %v (refusal %v); want exactly %q", got, err, pc.refusal, req)
	}
}

// The plain connection passes on exactly one request, head and body, whatever its framing,
// and stops where the next one starts.
func TestPlainConnFraming(t *testing.T) {
	const next = "GET http://a.example/next HTTP/1.1\r\nHost: a.example\r\n\r\n"
	for _, tt := range []struct{ name, req string }{
		{"no body", "GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n"},
		{"length", "POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\nContent-Length: 11\r\n\r\nhello world"},
		{"chunked", "POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"},
		{"chunk extensions and trailers", "POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\nB;ext=1\r\nhello world\r\n0\r\nX-Sum: 1\r\n\r\n"},
		{"large chunk", "POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n2710\r\n" + strings.Repeat("z", 10000) + "\r\n0\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkFramed(t, tt.req)
			checkFramed(t, tt.req+next) // and the next request after it
		})
	}
}

// A refused head ends the stream, and the refusal is kept for Close to answer.
func TestPlainConnRefusedHead(t *testing.T) {
	pc := plainConnOver(t, "GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n")
	if n, err := pc.Read(make([]byte, 64)); n != 0 || err != io.EOF {
		t.Fatalf("read %d, %v; want EOF", n, err)
	}
	if pc.refusal != errHostMismatch {
		t.Errorf("refusal %v", pc.refusal)
	}
}

// FuzzPlainConnFraming: for a chunked request net/http reads whole, the plain connection frames
// the body as net/http does, so the next request starts where both expect it.
func FuzzPlainConnFraming(f *testing.F) {
	f.Add("5\r\nhello\r\n0\r\n\r\n")
	f.Add("B;ext=1\r\nhello world\r\n0\r\nX-Sum: 1\r\n\r\n")
	f.Add("0\r\n\r\n")
	f.Fuzz(func(t *testing.T, body string) {
		input := "POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n" + body
		sr := strings.NewReader(input)
		br := bufio.NewReader(sr)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if _, err := io.ReadAll(req.Body); err != nil {
			return // net/http refuses the body: the request fails either way
		}
		consumed := len(input) - sr.Len() - br.Buffered()
		checkFramed(t, input[:consumed])
	})
}
