package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// plainConn is a plain-HTTP client connection as the HTTP server (goproxy's) reads it. Every
// request head on it, the first and each one after it on a kept-alive connection, is read and
// checked here by the same code and limits as a CONNECT's (readHead, then checkPlainHead)
// before the HTTP server sees a byte of it; the body after it is passed through as its head
// framed it, so the next head starts where this reader expects it. A refused head ends the
// stream: the HTTP server finishes the responses it owes and closes the connection, and Close
// answers the refusal with its status and event.
//
// The HTTP server's own deadlines are ignored (its time-outs are fixed at start); the reader
// takes timeouts.header and timeouts.idle from the settings in force for each request, so a
// reload reaches kept-alive connections too.
type plainConn struct {
	net.Conn
	ss *session

	pending []byte // head bytes not yet passed on
	state   plainState
	left    int64 // body bytes (or chunk bytes with their CRLF) still to pass on
	first   bool  // the next head is the connection's first

	mu      sync.Mutex
	refusal error // the head refused; answered on Close
	closed  bool
}

type plainState uint8

const (
	plainHead      plainState = iota // the next request head
	plainBody                        // a Content-Length body
	plainChunkSize                   // a chunk-size line of a chunked body
	plainChunkData                   // chunk data and its CRLF
	plainTrailer                     // the trailer section after the last chunk
	plainEnd                         // a head was refused or the client left: no more requests
)

func newPlainConn(ss *session) *plainConn {
	return &plainConn{Conn: ss.conn, ss: ss, first: true}
}

// SetDeadline and SetReadDeadline ignore the HTTP server's deadlines; see plainConn.
func (pc *plainConn) SetDeadline(t time.Time) error     { return pc.Conn.SetWriteDeadline(t) }
func (pc *plainConn) SetReadDeadline(t time.Time) error { return nil }

// Read passes on the connection's bytes request by request.
func (pc *plainConn) Read(p []byte) (int, error) {
	for {
		if len(pc.pending) > 0 {
			n := copy(p, pc.pending)
			pc.pending = pc.pending[n:]
			return n, nil
		}
		switch pc.state {
		case plainHead:
			if err := pc.nextHead(); err != nil {
				pc.state = plainEnd
				return 0, io.EOF
			}
		case plainBody, plainChunkData:
			n, err := pc.passBody(p)
			if n > 0 || err != nil {
				return n, err
			}
		case plainChunkSize, plainTrailer:
			if err := pc.passLine(); err != nil {
				return 0, err
			}
		default:
			return 0, io.EOF
		}
	}
}

// nextHead reads and checks the next request head. A client that closes between requests (or
// before its first) is not refused; any other failure is, on Close.
func (pc *plainConn) nextHead() error {
	ss := pc.ss
	set := ss.srv.settings.Load()
	ss.lr.N = int64(set.Limits.MaxHeaderBytes)
	if pc.first {
		ss.conn.SetReadDeadline(ss.start.Add(set.Timeouts.Header))
	} else {
		// Waiting for the next request on a kept-alive connection: it may come after
		// timeouts.idle; once it starts, its head must be whole within timeouts.header.
		ss.conn.SetReadDeadline(time.Now().Add(set.Timeouts.Idle))
		if _, err := ss.br.Peek(1); err != nil {
			return err
		}
		ss.conn.SetReadDeadline(time.Now().Add(set.Timeouts.Header))
	}
	head, target, err := ss.readHead(true)
	if err == nil {
		var f bodyFraming
		if f, err = checkPlainHead(head, target); err == nil {
			pc.first = false
			pc.pending = head
			pc.left, pc.state = f.length, plainBody
			if f.chunked {
				pc.state = plainChunkSize
			}
			ss.lr.N = 1<<63 - 1 // the body is the HTTP server's and the origin's to bound
			ss.conn.SetReadDeadline(time.Now().Add(set.Timeouts.Idle))
			return nil
		}
	}
	if errors.Is(err, io.EOF) && ss.lr.N == int64(set.Limits.MaxHeaderBytes) {
		return err // left without a word: no event
	}
	pc.mu.Lock()
	pc.refusal = err
	pc.mu.Unlock()
	return err
}

// passBody passes on up to len(p) bytes of a Content-Length body or of chunk data.
func (pc *plainConn) passBody(p []byte) (int, error) {
	if pc.left == 0 {
		if pc.state == plainBody {
			pc.state = plainHead
		} else {
			pc.state = plainChunkSize
		}
		return 0, nil
	}
	pc.ss.conn.SetReadDeadline(time.Now().Add(pc.ss.srv.settings.Load().Timeouts.Idle))
	n, err := pc.ss.br.Read(p[:min(int64(len(p)), pc.left)])
	pc.left -= int64(n)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// passLine passes on one chunk-size or trailer line. A malformed chunk size ends the stream:
// the HTTP server's chunked reader fails on what it was given, and the request with it.
func (pc *plainConn) passLine() error {
	line, err := pc.ss.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	pc.pending = append(pc.pending[:0], line...)
	if pc.state == plainTrailer {
		if len(trimEOL(line)) == 0 {
			pc.state = plainHead
		}
		return nil
	}
	size := trimEOL(line)
	if i := bytes.IndexByte(size, ';'); i >= 0 {
		size = size[:i]
	}
	n, perr := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
	switch {
	case perr != nil || n < 0:
		pc.state = plainEnd
	case n == 0:
		pc.state = plainTrailer
	default:
		pc.left, pc.state = n+2, plainChunkData // the data and its CRLF
	}
	return nil
}

// Close answers a refused head, then closes the connection and gives the reader back.
func (pc *plainConn) Close() error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		return nil
	}
	pc.closed = true
	if pc.refusal != nil {
		pc.ss.conn.SetWriteDeadline(time.Now().Add(time.Second))
		pc.ss.refuseHead(pc.refusal) // and closes
		return nil
	}
	return pc.Conn.Close()
}
