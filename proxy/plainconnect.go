package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/elazarl/goproxy"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// errGoproxyConnect is what goproxy's own CONNECT dialler always returns: a CONNECT is
// admitted only on the tunnel path (serveConn), never by goproxy.
var errGoproxyConnect = errors.New("mdmproxy: goproxy never dials a CONNECT")

// newGoproxy is the plain-HTTP forwarder with everything it would do on its own turned off.
// NewProxyHttpServer chains CONNECTs through $HTTPS_PROXY and forwards through $HTTP_PROXY;
// neither may happen silently. Its CONNECT handler dials without the client check, the
// admission step or an event: plainHandler refuses a CONNECT before goproxy sees it, and the
// dialler fails should any path reach it anyway.
func newGoproxy() *goproxy.ProxyHttpServer {
	gp := goproxy.NewProxyHttpServer()
	gp.ConnectDial = func(string, string) (net.Conn, error) { return nil, errGoproxyConnect }
	gp.ConnectDialWithReq = func(*http.Request, string, string) (net.Conn, error) { return nil, errGoproxyConnect }
	gp.Tr = &http.Transport{Proxy: nil}
	return gp
}

// refuseLateConnect answers a CONNECT that came after the first request of a plain-HTTP
// connection (only a connection's first request goes to the tunnel path) with 400 and a deny
// event, and ends the connection.
func (s *Server) refuseLateConnect(w http.ResponseWriter, r *http.Request) {
	pr := s.newPlainReq(r)
	pr.ev.URL, pr.ev.RawTarget = "", r.RequestURI[:min(len(r.RequestURI), maxLoggedTarget)]
	resp := pr.answer(r, events.ActionDeny, http.StatusBadRequest, allowlist.ReasonBadRequest,
		"a CONNECT must be the first request on its connection")
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Connection", "close")
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}
