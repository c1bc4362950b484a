package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// readerPool recycles the request-head readers. A reader lives only for the set-up phase of a
// connection, never for an idle tunnel.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// session is one client connection in its set-up phase.
type session struct {
	srv    *Server
	set    *Settings
	conn   net.Conn
	client netip.AddrPort // the client: the peer, or the one a trusted PROXY header names
	// balancer is the peer that sent a trusted PROXY header; zero without one.
	balancer netip.AddrPort
	start    time.Time
	lr       io.LimitedReader // bounds what the head and the hello may make us read
	br       *bufio.Reader    // reads through lr; holds bytes the client sent ahead (an eager ClientHello)
	done     bool             // set-up finished: counted out of Server.pending
	plain    bool             // handed to the plain-HTTP server, which keeps the reader
	slot     bool             // holds a limits slot (takeSlot) not yet handed to a tunnel
	// proxyAuth is the CONNECT's Proxy-Authorization value: for an upstream without
	// credentials of its own, never for an origin.
	proxyAuth string
	// origin is the last connection dialled for this client (destination or upstream), so
	// that recoverSession closes it too after a panic past the dial.
	origin net.Conn
	// retryOther: the client's second ClientHello, after a HelloRetryRequest, named another
	// server than the first, which only report mode lets through.
	retryOther bool
}

// setupDone marks the end of the set-up phase, once, for Shutdown's accounting.
func (ss *session) setupDone() {
	if ss.slot {
		ss.slot = false
		ss.srv.slots.give(ss.client.Addr()) // the set-up failed: the tunnel never held it
	}
	if !ss.done {
		ss.done = true
		ss.srv.pending.Add(-1)
	}
}

// putReader gives the session's reader back to the pool, if the session still has it.
func (ss *session) putReader() {
	if ss.br != nil && !ss.plain {
		ss.br.Reset(nil)
		readerPool.Put(ss.br)
		ss.br = nil
	}
}

// serveConn reads the request head and sends CONNECT to the tunnel path and everything else
// to the plain-HTTP server (goproxy).
func (s *Server) serveConn(c net.Conn) {
	ss := &session{srv: s, set: s.settings.Load(), conn: c, start: time.Now()}
	defer ss.setupDone()
	defer ss.recoverSession()
	ss.client = addrPortOf(c.RemoteAddr())
	// A client is checked before a byte is read from it; one behind a trusted balancer once the
	// PROXY header named it (the balancer itself need not be in clients).
	balanced := ss.trusted(ss.client.Addr())
	if !balanced && !ss.admitClient() {
		return
	}
	ss.lr = io.LimitedReader{R: c, N: int64(ss.set.Limits.MaxHeaderBytes)}
	ss.br = readerPool.Get().(*bufio.Reader)
	ss.br.Reset(&ss.lr)
	defer ss.putReader()
	c.SetReadDeadline(ss.start.Add(ss.set.Timeouts.Header))
	if !ss.readProxyHeader() || (balanced && !ss.admitClient()) {
		return
	}

	// Look at the method without consuming: anything but CONNECT goes to the HTTP server,
	// which must see the request from its first byte.
	head, err := ss.br.Peek(len("CONNECT "))
	if err != nil {
		ss.refuseHead(err)
		return
	}
	if string(head) != "CONNECT " {
		// Plain HTTP: every request head on the connection, this one and those after it, is
		// read and checked by the plain connection under the same limits and with the same
		// events as a CONNECT's, before the HTTP server parses it.
		ss.setupDone()
		pc := newPlainConn(ss)
		ss.plain = true // the plain connection reads through ss.br now, for as long as it lives
		s.plainServer().serve(pc)
		return
	}
	_, target, err := ss.readHead(false)
	if err != nil {
		ss.refuseHead(err)
		return
	}
	ss.connect(target, ss.proxyAuth)
}

// admitClient checks the client right after accept, before a byte of its request is read: an
// address outside clients gets one client_not_allowed event and a 403, and holds no head
// buffer and no header time-out. It reports whether the session goes on.
func (ss *session) admitClient() bool {
	q := allowlist.Query{Client: ss.client.Addr()}
	if ss.set.Policy.ClientAllowed(q.Client) {
		return true
	}
	ss.finish(ss.event(events.ActionDeny), outcome{action: events.ActionDeny, reason: allowlist.ReasonClientNotAllowed,
		status: http.StatusForbidden, msg: allowlist.Decision{Reason: allowlist.ReasonClientNotAllowed}.Explain(q), unread: true})
	return false
}

// refuseHead answers a request head that could not be read.
func (ss *session) refuseHead(err error) {
	reason, status := allowlist.ReasonBadRequest, http.StatusBadRequest
	switch {
	case ss.lr.N <= 0:
		reason, status = allowlist.ReasonHeaderTooLarge, http.StatusRequestHeaderFieldsTooLarge
	case isTimeout(err):
		reason, status = allowlist.ReasonHeaderTimeout, http.StatusRequestTimeout
	case errors.Is(err, io.EOF) && ss.lr.N == int64(ss.set.Limits.MaxHeaderBytes):
		// The client connected and left without a word (a port scan, a health check): no event.
		ss.conn.Close()
		return
	}
	ss.refuse(ss.event(events.ActionDeny), status, reason, reason.String()+": "+headText(reason, err))
}

// headText is the line a client reads when its request head was refused: the head checks' own
// errors, fixed words otherwise (a read error's text names the proxy's own address).
func headText(reason allowlist.Reason, err error) string {
	switch {
	case reason == allowlist.ReasonHeaderTooLarge:
		return "the request head is larger than the limit"
	case reason == allowlist.ReasonHeaderTimeout:
		return "the request head did not arrive in time"
	case errors.Is(err, errBadRequestLine), errors.Is(err, errBadHeaderLine), errors.Is(err, errHeaderFolding),
		errors.Is(err, errTwoHosts), errors.Is(err, errHostMismatch), errors.Is(err, errLengthAndChunk),
		errors.Is(err, errBadLength), errors.Is(err, errBadCoding), errors.Is(err, errNotHTTPURI),
		errors.Is(err, errNetHTTPRefuses):
		return err.Error()
	}
	return "malformed request head"
}

// event starts an event about this session.
func (ss *session) event(a events.Action) *events.Event {
	return &events.Event{
		Time:       time.Now(),
		Action:     a,
		SourceIP:   ss.client.Addr(),
		SourcePort: ss.client.Port(),
		Balancer:   ss.balancer,
	}
}

func (s *Server) emit(e *events.Event) {
	s.observe(e) // the metrics' decisions and ends: one place, whichever path emits
	if s.Events != nil {
		s.Events.Emit(e)
	}
}

// writeStatus writes a complete, closing HTTP/1.1 response with a one-line text body.
func writeStatus(w io.Writer, status int, msg string) {
	w.Write(statusResponse(status, msg))
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
