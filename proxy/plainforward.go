package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// via is added to every forwarded request and response (RFC 9110 7.6.3).
const via = "1.1 mdmproxy"

// plainReq is one plain-HTTP proxy request on its way: decided by the same admission step as
// a CONNECT, forwarded directly to an address the step allowed or to the upstream, answered
// with one decision event and one end event.
type plainReq struct {
	srv        *Server
	set        *Settings
	ev         *events.Event
	adm        Admission
	port       uint16
	up         *Upstream // forwarded upstream
	clientAuth string    // the client's Proxy-Authorization, for an upstream without credentials
	start      time.Time
	refused    bool // answered by the proxy itself (refusal or failure)

	sent     atomic.Int64 // request body bytes read from the client
	dialErr  atomic.Bool  // the last direct dial failed: try the next allowed address
	endOnce  sync.Once
	received int64
}

type plainReqKey struct{}

// plainRequest decides a plain-HTTP proxy request (goproxy's request handler). A refusal is
// answered here; an admitted request goes on to plainReq.RoundTrip.
func (s *Server) plainRequest(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	pr := s.newPlainReq(r)
	set := pr.set
	ctx.UserData = pr

	port := r.URL.Port()
	if port == "" {
		port = "80"
	}
	target, err := allowlist.ParseTarget(net.JoinHostPort(r.URL.Hostname(), port))
	if err != nil {
		pr.ev.RawTarget = r.URL.Host[:min(len(r.URL.Host), maxLoggedTarget)]
		return r, pr.answer(r, events.ActionDeny, http.StatusBadRequest, allowlist.ReasonBadTarget, err.Error())
	}
	pr.port = target.Port
	pr.ev.DestDomain, pr.ev.DestIP, pr.ev.DestPort = target.Name, target.Addr, target.Port
	q := allowlist.Query{Client: pr.ev.SourceIP, Name: target.Name, Addr: target.Addr, Port: target.Port}

	actx, cancel := context.WithTimeout(r.Context(), set.Timeouts.Connect)
	defer cancel()
	pr.adm = Admit(actx, set, s.Lookup, s.isOwn, q, nil)
	d := pr.adm.Decision
	pr.ev.Rule = d.RuleName()
	if pr.adm.Reported() {
		pr.ev.EnforceAction, pr.ev.EnforceReason = actionOf(pr.adm.Enforce.Action), pr.adm.Enforce.Reason.String()
		pr.ev.Rule = pr.adm.Enforce.RuleName()
	}
	switch {
	case !d.Allowed():
		if pr.adm.Refused.IsValid() {
			q.Addr, pr.ev.DestIP = pr.adm.Refused, pr.adm.Refused
		}
		return r, pr.answer(r, events.ActionDeny, http.StatusForbidden, d.Reason, d.Explain(q))
	case pr.adm.Err != nil:
		status := http.StatusBadGateway
		if pr.adm.Fail == allowlist.ReasonResolveTimeout {
			status = http.StatusGatewayTimeout
		}
		s.Log.Info().Str("client", r.RemoteAddr).Str("target", target.Name).Err(pr.adm.Err).Msg("plain request: resolving failed")
		return r, pr.answer(r, actionOf(d.Action), status, pr.adm.Fail, failText[pr.adm.Fail])
	case d.Action == allowlist.Upstream:
		if pr.up = set.Upstream; pr.up == nil {
			return r, pr.answer(r, actionOf(d.Action), http.StatusBadGateway, allowlist.ReasonUpstreamFailed, "no upstream proxy is configured")
		}
		pr.ev.Upstream = pr.up.String()
	}

	// Hop-by-hop headers (and those Connection names) are the client's and this proxy's only.
	// The client's own proxy credentials go on to an upstream without credentials of its own,
	// never to an origin.
	pr.clientAuth = r.Header.Get("Proxy-Authorization")
	removeHopByHop(r.Header)
	r.RequestURI = ""
	r.Close = false // the client's "Connection: close" is about its own connection, not the origin's
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingBody{ReadCloser: r.Body, n: &pr.sent}
	}
	ctx.RoundTripper = pr
	return r, nil
}

// newPlainReq starts one plain-HTTP request under the settings in force, its event a deny
// until it is decided.
func (s *Server) newPlainReq(r *http.Request) *plainReq {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	pr := &plainReq{srv: s, set: s.settings.Load(), start: time.Now()}
	pr.ev = &events.Event{Time: pr.start, Action: events.ActionDeny, SourceIP: ap.Addr().Unmap(), SourcePort: ap.Port(),
		Method: r.Method, URL: withoutUserInfo(r.URL), Balancer: balancerOf(r.Context())}
	return pr
}

// answer is the proxy's own response to a request it refused or could not carry out, with
// its event.
func (pr *plainReq) answer(r *http.Request, action events.Action, status int, reason allowlist.Reason, msg string) *http.Response {
	pr.refused = true
	pr.srv.refused(pr.ev, action, reason, status)
	resp := goproxy.NewResponse(r, "text/plain; charset=utf-8", status, "mdmproxy: "+reason.String()+": "+msg+"\n")
	resp.Header.Set("Via", via)
	return resp
}

// RoundTrip forwards the request (goproxy's round tripper for this request): to the upstream
// in absolute form, or to the first allowed address that answers, pinned so that the address
// checked is the address dialled (the transport pools connections by that address).
func (pr *plainReq) RoundTrip(req *http.Request, ctx *goproxy.ProxyCtx) (*http.Response, error) {
	req = req.WithContext(context.WithValue(req.Context(), plainReqKey{}, pr))
	req.Header.Add("Via", via)
	var resp *http.Response
	var err error
	if pr.up != nil {
		if v := pr.up.credentials(pr.clientAuth); v != "" {
			req.Header.Set("Proxy-Authorization", v)
		}
		// The client's own never pass: the filter trusts this hop, and would otherwise
		// attribute the request to an address the device chose.
		req.Header.Del("X-Forwarded-For")
		req.Header.Del("Forwarded")
		if v := pr.up.forwardedFor(pr.ev.SourceIP); v != "" {
			req.Header.Set("X-Forwarded-For", v)
		}
		resp, err = pr.srv.transports().upstream.RoundTrip(req)
	} else {
		host := req.URL.Host
		for _, a := range pr.adm.Addrs {
			pr.ev.DestIP = a
			req.URL.Host = netip.AddrPortFrom(a, pr.port).String()
			pr.dialErr.Store(false)
			resp, err = pr.srv.transports().direct.RoundTrip(req)
			if err == nil || !pr.dialErr.Load() || req.Context().Err() != nil {
				break
			}
		}
		req.URL.Host = host
	}
	if err != nil {
		return nil, err
	}
	if pr.up != nil && pr.up.auth != "" && resp.StatusCode == http.StatusProxyAuthRequired {
		resp.Body.Close()
		return nil, errUpstreamCredentials
	}
	removeHopByHop(resp.Header)
	resp.Header.Add("Via", via)
	ev := pr.ev
	ev.Time, ev.Action, ev.Outcome = time.Now(), actionOf(pr.adm.Decision.Action), events.OutcomeSuccess
	ev.Reason, ev.StatusCode = pr.adm.Decision.Reason.String(), resp.StatusCode
	pr.srv.metrics.Forwarded.Add(1)
	pr.srv.emit(ev)
	resp.Body = &responseBody{ReadCloser: resp.Body, pr: pr}
	return resp, nil
}

var errUpstreamCredentials = errors.New("the upstream proxy refused the configured credentials")

// plainResponse maps a failed round trip to 502 or 504 and its event (goproxy's response
// handler; without it goproxy answers 500 with the error's text).
func (s *Server) plainResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	pr, _ := ctx.UserData.(*plainReq)
	if resp != nil || pr == nil || pr.refused {
		return resp
	}
	err := ctx.Error
	reason, status := allowlist.ReasonDialFailed, http.StatusBadGateway
	switch {
	case pr.up != nil && isTimeout(err):
		reason, status = allowlist.ReasonUpstreamTimeout, http.StatusGatewayTimeout
	case pr.up != nil:
		reason = allowlist.ReasonUpstreamFailed
	case isTimeout(err):
		reason, status = allowlist.ReasonDialTimeout, http.StatusGatewayTimeout
	case !pr.dialErr.Load():
		reason = allowlist.ReasonReset // dialled, then the origin failed the exchange
	}
	if ctx.Req != nil && ctx.Req.Context().Err() != nil {
		reason = allowlist.ReasonClientClosed
	}
	s.Log.Info().Str("client", pr.ev.SourceIP.String()).Str("url", pr.ev.URL).Str("reason", reason.String()).Err(err).
		Msg("plain request failed")
	return pr.answer(ctx.Req, actionOf(pr.adm.Decision.Action), status, reason, failText[reason])
}

// end emits the request's end event, once.
func (pr *plainReq) end(reason allowlist.Reason) {
	pr.endOnce.Do(func() {
		pr.srv.emit(endEvent(pr.ev, reason, pr.start, pr.sent.Load(), pr.received))
	})
}

// responseBody counts the response body and ends the request when goproxy closes it.
type responseBody struct {
	io.ReadCloser
	pr  *plainReq
	eof bool
}

func (b *responseBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.pr.received += int64(n)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

func (b *responseBody) Close() error {
	err := b.ReadCloser.Close()
	reason := allowlist.ReasonEOF
	if !b.eof {
		reason = allowlist.ReasonReset
	}
	b.pr.end(reason)
	return err
}

// countingBody counts a request body as the transport reads it.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// plainTransports forward plain requests: one to origins, dialling the address in the request
// URL (an allowed one, set by RoundTrip), one to the upstream. Neither decompresses (bodies
// and encodings pass byte for byte), and neither reads the environment's proxy variables.
type plainTransports struct {
	direct, upstream *http.Transport
}

func (s *Server) transports() *plainTransports {
	s.transportsOnce.Do(func() {
		s.plainTr = &plainTransports{
			direct: &http.Transport{DialContext: s.dialDirect, DisableCompression: true, MaxIdleConnsPerHost: 8,
				IdleConnTimeout: 90 * time.Second},
			upstream: &http.Transport{DialContext: s.dialUpstream, DisableCompression: true, MaxIdleConnsPerHost: 64,
				IdleConnTimeout: 90 * time.Second, Proxy: upstreamOf},
		}
	})
	return s.plainTr
}

// upstreamOf is the upstream transport's proxy: the upstream of the request's settings.
func upstreamOf(r *http.Request) (*url.URL, error) {
	pr, _ := r.Context().Value(plainReqKey{}).(*plainReq)
	if pr == nil || pr.up == nil {
		return nil, errors.New("no upstream proxy for this request")
	}
	return pr.up.proxyURL(), nil
}

// dialDirect opens a connection to an allowed address (the request URL's, set by RoundTrip)
// within timeouts.connect, and records a failure so RoundTrip can try the next address.
func (s *Server) dialDirect(ctx context.Context, network, addr string) (net.Conn, error) {
	pr, _ := ctx.Value(plainReqKey{}).(*plainReq)
	if pr == nil {
		return nil, errors.New("plain transport: dial outside a request")
	}
	ctx, cancel := context.WithTimeout(ctx, pr.set.Timeouts.Connect)
	defer cancel()
	c, err := s.dial(ctx, network, addr)
	if err != nil {
		pr.dialErr.Store(true)
	}
	return c, err
}

// dialUpstream opens a connection to the upstream within timeouts.connect.
func (s *Server) dialUpstream(ctx context.Context, network, addr string) (net.Conn, error) {
	if pr, _ := ctx.Value(plainReqKey{}).(*plainReq); pr != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pr.set.Timeouts.Connect)
		defer cancel()
	}
	return s.dial(ctx, network, addr)
}

// dial opens a connection with Server.Dial, or a plain dialer.
func (s *Server) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.Dial != nil {
		return s.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// withoutUserInfo is the request URL as events show it: never with credentials.
func withoutUserInfo(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	cp := *u
	cp.User = nil
	return cp.String()
}
