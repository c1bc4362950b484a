package pac

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// Paths are the URL paths the file is served at: /proxy.pac for configured PAC URLs,
// /wpad.dat for WPAD (DNS name wpad, DHCP option 252).
var Paths = []string{"/proxy.pac", "/wpad.dat"}

// MaxAge is how long devices may use the file without asking again (Cache-Control); after it
// they revalidate with If-None-Match and get 304 unless a reload changed the file.
const MaxAge = 5 * time.Minute

// ContentType is the PAC file's media type.
const ContentType = "application/x-ns-proxy-autoconfig"

// EventSink receives the deny event of each refused client. *events.Logger is one.
type EventSink interface{ Emit(e *events.Event) }

// Handler serves the current PAC file at Paths to the policy's clients; others get 403 and a
// deny event, whatever path they ask for. It is ready once Update has given it a file; until then it answers 503. Mount
// it as proxy.Server.NonProxy (the proxy listener), and OwnListener on pac.listen.
type Handler struct {
	// Events receives deny events. Nil discards them.
	Events EventSink
	state  atomic.Pointer[handlerState]
}

type handlerState struct {
	file   *File
	policy *allowlist.Policy // who may fetch the file
	proxy  string            // pac.proxy, canonical; "" to name the Host the file was fetched with
}

// Update installs the file of a new configuration for requests from now on. proxy is
// pac.proxy ("" when unset); pol decides who may fetch the file.
func (h *Handler) Update(f *File, pol *allowlist.Policy, proxy string) error {
	if proxy != "" {
		var err error
		if proxy, err = CanonicalHostPort(proxy); err != nil {
			return err
		}
	}
	h.state.Store(&handlerState{file: f, policy: pol, proxy: proxy})
	return nil
}

// ServeHTTP serves the file on the proxy listener: without pac.proxy, it names the Host the
// file was fetched with, port included, because that is how the device reached this listener.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r, 0) }

// OwnListener is the handler for a listener of its own (pac.listen, e.g. :80 for WPAD by DNS):
// without pac.proxy, the file names the Host's name with proxyPort, the proxy listener's port.
func (h *Handler) OwnListener(proxyPort uint16) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, proxyPort) })
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, proxyPort uint16) {
	st := h.state.Load()
	if st == nil {
		http.Error(w, "mdmproxy: the PAC file is not ready", http.StatusServiceUnavailable)
		return
	}
	// Clients first, whatever they ask for: the proxy is never open, not even its 404s.
	client := remoteAddr(r)
	if !st.policy.ClientAllowed(client.Addr()) {
		h.refuse(w, r, client)
		return
	}
	if !isPACPath(r.URL.Path) {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "mdmproxy: the PAC file is fetched with GET", http.StatusMethodNotAllowed)
		return
	}
	proxy := st.proxy
	if proxy == "" {
		proxy = proxyFromRequest(r, proxyPort)
	}
	s, err := st.file.Script(proxy)
	if err != nil {
		http.Error(w, "mdmproxy: cannot tell devices how to reach this proxy from this request; set pac.proxy", http.StatusBadRequest)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", ContentType)
	hd.Set("Cache-Control", "max-age="+strconv.Itoa(int(MaxAge/time.Second)))
	hd.Set("ETag", s.ETag)
	if st.proxy == "" {
		// The body names the Host it was fetched with: a shared cache must not hand it to
		// devices that asked under another name.
		hd.Set("Vary", "Host")
	}
	if etagMatch(r.Header.Get("If-None-Match"), s.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(s.Len()))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		s.WriteTo(w)
	}
}

// refuse answers a client outside clients: 403 and a deny event, as the proxy does.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, client netip.AddrPort) {
	reason := allowlist.ReasonClientNotAllowed.String()
	if h.Events != nil {
		h.Events.Emit(&events.Event{Time: time.Now(), Action: events.ActionDeny, Reason: reason,
			SourceIP: client.Addr(), SourcePort: client.Port(), URL: r.URL.Path, Method: r.Method,
			StatusCode: http.StatusForbidden})
	}
	http.Error(w, "mdmproxy: "+reason+": client "+client.Addr().String()+" is not in clients", http.StatusForbidden)
}

func isPACPath(p string) bool {
	for _, want := range Paths {
		if p == want {
			return true
		}
	}
	return false
}

// remoteAddr is the client's address, IPv4-mapped IPv6 unmapped.
func remoteAddr(r *http.Request) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// proxyFromRequest is the address the file names when pac.proxy is not set: the Host the file
// was fetched with, or the connection's local address when the Host is missing or not a host
// name or address. On the proxy listener (proxyPort 0) the Host's port is kept (80 when it has
// none); on a listener of its own the port is the proxy's. The result is canonical, or "" when
// nothing fits.
func proxyFromRequest(r *http.Request, proxyPort uint16) string {
	host, port := r.Host, ""
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		host, port = h, p
	}
	switch {
	case proxyPort != 0:
		port = strconv.Itoa(int(proxyPort))
	case port == "":
		port = "80"
	}
	if c, err := CanonicalHostPort(joinHostPort(strings.Trim(host, "[]"), port)); err == nil && host != "" {
		return c
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(local.String())
	if err != nil {
		return ""
	}
	if proxyPort == 0 {
		proxyPort = ap.Port()
	}
	c, _ := CanonicalHostPort(netip.AddrPortFrom(ap.Addr().Unmap(), proxyPort).String())
	return c
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// etagMatch reports whether an If-None-Match header names etag (or is "*"): a weak
// comparison, as RFC 9110 asks for If-None-Match.
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
