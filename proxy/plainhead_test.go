package proxy

import (
	"bufio"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestCheckPlainHead(t *testing.T) {
	for _, tt := range []struct {
		name, head string
		want       bodyFraming
		err        error
	}{
		{"get", "GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", bodyFraming{}, nil},
		{"no Host", "GET http://a.example/ HTTP/1.1\r\n\r\n", bodyFraming{}, errNetHTTPRefuses},
		{"no Host in 1.0", "GET http://a.example/ HTTP/1.0\r\n\r\n", bodyFraming{}, nil},
		{"Host with default port", "GET http://a.example/ HTTP/1.1\r\nHost: A.example:80\r\n\r\n", bodyFraming{}, nil},
		{"Host and URI ports", "GET http://a.example:8080/ HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", bodyFraming{}, nil},
		{"length", "POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\ncontent-length: 12\r\n\r\n", bodyFraming{length: 12}, nil},
		{"same length twice", "POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\nContent-Length: 3, 3\r\n\r\n", bodyFraming{}, errNetHTTPRefuses},
		{"chunked", "POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: Chunked\r\n\r\n", bodyFraming{chunked: true}, nil},
		{"origin form", "GET /proxy.pac HTTP/1.1\r\nHost: proxy.school.lan\r\n\r\n", bodyFraming{}, nil},
		{"two Hosts", "GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n\r\n", bodyFraming{}, errTwoHosts},
		{"Host mismatch", "GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n", bodyFraming{}, errHostMismatch},
		{"Host port mismatch", "GET http://a.example/ HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", bodyFraming{}, errHostMismatch},
		{"length and chunked", "POST http://a.example/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", bodyFraming{}, errLengthAndChunk},
		{"two lengths", "POST http://a.example/ HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", bodyFraming{}, errBadLength},
		{"signed length", "POST http://a.example/ HTTP/1.1\r\nContent-Length: +3\r\n\r\n", bodyFraming{}, errBadLength},
		{"negative length", "POST http://a.example/ HTTP/1.1\r\nContent-Length: -3\r\n\r\n", bodyFraming{}, errBadLength},
		{"gzip coding", "POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", bodyFraming{}, errBadCoding},
		{"chunked twice", "POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", bodyFraming{}, errBadCoding},
		{"https URI", "GET https://a.example/ HTTP/1.1\r\n\r\n", bodyFraming{}, errNotHTTPURI},
		{"no host in URI", "GET http:///x HTTP/1.1\r\n\r\n", bodyFraming{}, errNotHTTPURI},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := strings.Fields(tt.head)[1]
			got, err := checkPlainHead([]byte(tt.head), target)
			if !errors.Is(err, tt.err) || (err == nil && got != tt.want) {
				t.Errorf("got %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

// FuzzCheckPlainHead: a head checkPlainHead accepts is framed as net/http frames it, so the
// plain connection and the HTTP server behind it agree on where the next request starts.
func FuzzCheckPlainHead(f *testing.F) {
	f.Add("POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\n")
	f.Add("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
	f.Add("GET /x HTTP/1.0\r\n\r\n")
	f.Fuzz(func(t *testing.T, head string) {
		first, _, _ := strings.Cut(head, "\n")
		fields := strings.Fields(first)
		if len(fields) < 2 {
			return
		}
		fr, err := checkPlainHead([]byte(head), fields[1])
		if err != nil {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		if err != nil {
			return // net/http refuses more; readHead runs before checkPlainHead anyway
		}
		chunked := len(req.TransferEncoding) == 1 && req.TransferEncoding[0] == "chunked"
		if chunked != fr.chunked || (!chunked && req.ContentLength != fr.length) {
			t.Fatalf("framing %+v; net/http: length %d, codings %v", fr, req.ContentLength, req.TransferEncoding)
		}
	})
}
