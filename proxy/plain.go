package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// plainServer serves everything that is not a CONNECT: plain-HTTP proxy requests through
// goproxy, and origin-form requests (the PAC file, later) through Server.NonProxy. It is an
// http.Server fed with connections whose first bytes serveConn already peeked at.
type plainServer struct {
	srv   *Server
	http  *http.Server
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (s *Server) plainServer() *plainServer {
	s.plainOnce.Do(func() {
		gp := goproxy.NewProxyHttpServer()
		// NewProxyHttpServer chains CONNECTs through $HTTPS_PROXY and forwards through
		// $HTTP_PROXY; neither may happen silently. CONNECT never reaches goproxy, and plain
		// requests are answered below, but clear both so no future path inherits them.
		gp.ConnectDial = nil
		gp.Tr = &http.Transport{Proxy: nil}
		gp.Logger = goproxyLogger{s}
		gp.NonproxyHandler = http.HandlerFunc(s.serveNonProxy)
		gp.OnRequest().DoFunc(s.plainRequest)
		set := s.settings.Load()
		p := &plainServer{srv: s, conns: make(chan net.Conn), done: make(chan struct{})}
		p.http = &http.Server{
			Handler:           gp,
			ReadHeaderTimeout: set.Timeouts.Header,
			IdleTimeout:       set.Timeouts.Header * 6,
			MaxHeaderBytes:    set.Limits.MaxHeaderBytes,
			ErrorLog:          nil,
		}
		// One request per connection: every request head then passes serveConn's checks,
		// limits and events (the HTTP server would answer a bad one itself, unlogged).
		p.http.SetKeepAlivesEnabled(false)
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

// plainRequest answers a plain-HTTP proxy request. Forwarding is a later feature: for now the
// client check runs and every request is refused with 403 and an event.
func (s *Server) plainRequest(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	set := s.settings.Load()
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	client := ap.Addr().Unmap()
	ev := &events.Event{Time: time.Now(), Action: events.ActionDeny, Outcome: events.OutcomeFailure,
		SourceIP: client, SourcePort: ap.Port(), URL: r.URL.String(), Method: r.Method, DestDomain: r.URL.Hostname()}
	msg := "plain-HTTP proxying is not supported; use CONNECT"
	ev.Reason = allowlist.ReasonPlainHTTP.String()
	q := allowlist.Query{Client: client}
	if d := set.Policy.Decide(q); d.Reason == allowlist.ReasonClientNotAllowed {
		ev.Reason, msg = d.Reason.String(), d.Explain(q)
	}
	s.metrics.Denied.Add(1)
	s.emit(ev)
	resp := goproxy.NewResponse(r, "text/plain; charset=utf-8", http.StatusForbidden, "mdmproxy: "+msg+"\n")
	return r, resp
}

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
