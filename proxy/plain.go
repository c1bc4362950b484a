package proxy

import (
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
)

// plainServer serves everything that is not a CONNECT: plain-HTTP proxy requests through
// goproxy, and origin-form requests and requests addressed to the proxy itself (the PAC file)
// through Server.NonProxy. It is an http.Server fed with connections whose first bytes
// serveConn already peeked at.
type plainServer struct {
	srv   *Server
	http  *http.Server
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (s *Server) plainServer() *plainServer {
	s.plainOnce.Do(func() {
		gp := newGoproxy()
		gp.Logger = goproxyLogger{s}
		gp.NonproxyHandler = http.HandlerFunc(s.serveNonProxy)
		// A faithful forwarder: the client's Accept-Encoding stays (goproxy drops it by default
		// so that Go's transport may decompress), and the hop-by-hop headers are removed by
		// plainRequest, which keeps the client's proxy credentials for an upstream first.
		gp.KeepAcceptEncoding = true
		gp.OnRequest().DoFunc(s.plainRequest)
		gp.OnResponse().DoFunc(s.plainResponse)
		p := &plainServer{srv: s, conns: make(chan net.Conn), done: make(chan struct{})}
		p.http = &http.Server{
			Handler: s.recoverPlain(s.plainHandler(gp)),
			// The plain connection reads and checks every request head with the limits and
			// time-outs of the settings in force (plainConn); the server's own stay out of
			// its way, and it never sees a head larger than limits.max_header_bytes.
			MaxHeaderBytes: maxHeaderBytesBound,
			ErrorLog:       log.New(goproxyLogger{s}, "", 0), // a recovered handler panic, with its stack
			ConnContext:    plainConnContext,                 // a trusted PROXY header's balancer, for the events
		}
		p.http.DisableGeneralOptionsHandler = true // OPTIONS * to the handler, not net/http's own unlogged 200
		go p.http.Serve(p)
		s.plain.Store(p)
	})
	return s.plain.Load()
}

// serve hands a connection to the HTTP server.
func (p *plainServer) serve(c net.Conn) {
	select {
	case p.conns <- c:
	case <-p.done:
		c.Close()
	}
}

// Accept, Close and Addr make plainServer the net.Listener of its http.Server.
func (p *plainServer) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *plainServer) Close() error   { p.once.Do(func() { close(p.done) }); return nil }
func (p *plainServer) Addr() net.Addr { return &net.TCPAddr{} }

func (p *plainServer) close() {
	p.Close()
	p.http.Close()
}

// maxHeaderBytesBound is above the largest limits.max_header_bytes the configuration accepts.
const maxHeaderBytesBound = 2 << 20

// serveNonProxy answers origin-form requests on the proxy port.
func (s *Server) serveNonProxy(w http.ResponseWriter, r *http.Request) {
	if s.NonProxy != nil {
		s.NonProxy.ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}

// goproxyLogger passes goproxy's own messages to the operational log at warn, where zerolog's
// Printf would have put them at debug and hidden them.
type goproxyLogger struct{ s *Server }

func (l goproxyLogger) Printf(format string, v ...any) { l.s.Log.Warn().Msgf("goproxy: "+format, v...) }

// Write takes the HTTP server's own error log (a handler's recovered panic) to the operational
// log, at error.
func (l goproxyLogger) Write(p []byte) (int, error) {
	l.s.Log.Error().Msg("plain-HTTP server: " + strings.TrimSpace(string(p)))
	return len(p), nil
}
