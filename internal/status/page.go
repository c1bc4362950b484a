package status

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/proxy"
)

// Page is the status page: / for people, /status.json for scripts. Create it with New, feed
// it the event stream through Emit, and tell it about the policy with PolicyLoaded and
// Reloaded.
type Page struct {
	// Tunnels lists the proxy's open tunnels (proxy.Server.Tunnels); called per request only.
	Tunnels func(func(proxy.TunnelInfo))

	obs    *Observer
	policy policyState
	now    func() time.Time
}

// New starts a status page whose open tunnels come from tunnels. Close stops it.
func New(tunnels func(func(proxy.TunnelInfo))) *Page {
	return &Page{Tunnels: tunnels, obs: NewObserver(), now: time.Now}
}

// Emit takes a decision event off the event stream; it never blocks (see Observer.Emit).
func (p *Page) Emit(e *events.Event) { p.obs.Emit(e) }

// PolicyLoaded records the policy now in force: at start and after each accepted reload.
func (p *Page) PolicyLoaded(at time.Time, spec allowlist.Spec, presets []string) {
	p.policy.loaded(at, spec, presets)
}

// Reloaded records a reload attempt and its outcome.
func (p *Page) Reloaded(r ReloadInfo) { p.policy.reloaded(r) }

// Close stops the observer.
func (p *Page) Close() { p.obs.Close() }

// Page limits: the HTML lists at most this many tunnels and rules (the JSON lists all).
const (
	maxPageTunnels = 500
	maxPageRules   = 100
	refreshSeconds = 15
	maxQuery       = 100
)

//go:embed page.html
var pageHTML string

//go:embed page.css
var pageCSS string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"bytes": humanBytes, "age": humanAge, "css": func() template.CSS { return template.CSS(pageCSS) },
	"rows": func(id string, rows []Refusal) refusalTable { return refusalTable{id, rows} },
}).Parse(pageHTML))

// contentSecurityPolicy allows the page's one inline style sheet by its hash and nothing else:
// no scripts, no external anything, no framing, forms only back to this page.
var contentSecurityPolicy = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"img-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}()

// ServeHTTP serves GET / (the page) and GET /status.json; other paths are not the page's.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	switch r.URL.Path {
	case "/status.json":
		h.Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p.snapshot())
	case "/":
		p.serveHTML(w, r)
	default:
		http.NotFound(w, r)
	}
}

// refusalTable is one refusals table of the template.
type refusalTable struct {
	ID   string
	Rows []Refusal
}

// view is the template's data: the status, narrowed to the search.
type view struct {
	*Status
	Query        string
	Refresh      string
	Shown        []Client
	ShownTunnels int
	Hidden       int // tunnels matching the search but not listed
	AllTunnels   int
	PageRules    []RuleHits
	MoreRules    int
}

func (p *Page) serveHTML(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	q = q[:min(len(q), maxQuery)]
	st := p.snapshot()
	v := &view{Status: st, Query: q, Refresh: refreshValue(q)}
	for _, c := range st.Clients {
		v.AllTunnels += len(c.Tunnels)
		var keep []Tunnel
		for _, t := range c.Tunnels {
			if !matches(q, c.Address, t) {
				continue
			}
			if v.ShownTunnels >= maxPageTunnels {
				v.Hidden++
				continue
			}
			keep = append(keep, t)
			v.ShownTunnels++
		}
		if len(keep) > 0 {
			v.Shown = append(v.Shown, Client{Address: c.Address, Tunnels: keep})
		}
	}
	v.PageRules = st.Rules[:min(len(st.Rules), maxPageRules)]
	v.MoreRules = len(st.Rules) - len(v.PageRules)
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, v); err != nil {
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	w.Write(buf.Bytes())
}

// refreshValue is the meta refresh: the same page, with the same search, every refreshSeconds.
func refreshValue(q string) string {
	v := strconv.Itoa(refreshSeconds) + "; url=/"
	if q != "" {
		v += "?q=" + url.QueryEscape(q)
	}
	return v
}

// matches reports whether a tunnel answers the search: any of the client's address, the rule
// and the destination containing it, case-insensitively.
func matches(q, client string, t Tunnel) bool {
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	return strings.Contains(client, q) || strings.Contains(strings.ToLower(t.Rule), q) || strings.Contains(strings.ToLower(t.Destination), q)
}
