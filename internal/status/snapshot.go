package status

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/mdmproxy/mdmproxy/proxy"
)

// How much of the statistics a snapshot shows.
const (
	topRefusals = 20 // refused targets per window
)

// Status is what / and /status.json show: the spec's push, clients, refusals, rules and policy.
type Status struct {
	GeneratedAt time.Time    `json:"generated_at"`
	Push        []PushStatus `json:"push"`
	Clients     []Client     `json:"clients"`
	// Refusals are the most refused targets of the last hour, RefusalsDay of the last day.
	Refusals    []Refusal  `json:"refusals"`
	RefusalsDay []Refusal  `json:"refusals_day"`
	Rules       []RuleHits `json:"rules"`
	Policy      PolicyInfo `json:"policy"`
	// EventsDropped counts events the status page's observer had no room for: its refusal and
	// hit counts miss that many.
	EventsDropped uint64 `json:"events_dropped"`
}

// PushStatus is one persistent rule and how many distinct clients hold a live tunnel under it.
type PushStatus struct {
	Rule    string `json:"rule"`
	Clients int    `json:"clients"`
}

// Client is one client address and its open tunnels.
type Client struct {
	Address string   `json:"address"`
	Tunnels []Tunnel `json:"tunnels"`
}

// Tunnel is one open tunnel of a client.
type Tunnel struct {
	Rule             string `json:"rule"`
	Destination      string `json:"destination"`
	AgeS             int64  `json:"age_s"`
	SourceBytes      int64  `json:"source_bytes"`
	DestinationBytes int64  `json:"destination_bytes"`
	Persistent       bool   `json:"persistent"`
}

// Refusal is one of the most refused targets of a window.
type Refusal struct {
	Target string `json:"target"` // host:port as the clients asked
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`   // refusals in the window (an upper bound once many targets compete)
	Tried  int    `json:"clients"` // distinct clients that tried (estimated beyond 8)
	// Suggestion is a rules: snippet that would allow the target; "" when no rule can. It is
	// for the admin to judge: nothing is ever allowed automatically.
	Suggestion string `json:"suggestion"`
}

// RuleHits is how many connections a rule allowed since the proxy started.
type RuleHits struct {
	Rule string `json:"rule"`
	Hits uint64 `json:"hits"`
}

// snapshot assembles the status now. Tunnels are read from the proxy's registry here, at
// request time, and from nowhere else.
func (p *Page) snapshot() *Status {
	now := p.now()
	policy, persistent := p.policy.get()
	st := &Status{GeneratedAt: now.UTC(), Policy: policy, Clients: []Client{}}

	byClient := map[string]*Client{}
	pushClients := map[string]map[string]bool{}
	if p.Tunnels != nil {
		p.Tunnels(func(t proxy.TunnelInfo) {
			addr := t.Client.String()
			c := byClient[addr]
			if c == nil {
				c = &Client{Address: addr}
				byClient[addr] = c
			}
			c.Tunnels = append(c.Tunnels, Tunnel{
				Rule: t.Rule, Destination: t.Destination, AgeS: int64(now.Sub(t.Started) / time.Second),
				SourceBytes: t.SourceBytes, DestinationBytes: t.DestBytes, Persistent: t.Persistent,
			})
			if t.Persistent {
				if pushClients[t.Rule] == nil {
					pushClients[t.Rule] = map[string]bool{}
				}
				pushClients[t.Rule][addr] = true
			}
		})
	}
	for _, c := range byClient {
		slices.SortFunc(c.Tunnels, func(a, b Tunnel) int {
			return cmp.Or(cmp.Compare(b.AgeS, a.AgeS), strings.Compare(a.Destination, b.Destination))
		})
		st.Clients = append(st.Clients, *c)
	}
	slices.SortFunc(st.Clients, func(a, b Client) int { return compareAddr(a.Address, b.Address) })

	st.Push = []PushStatus{}
	listed := map[string]bool{}
	for _, r := range persistent {
		st.Push = append(st.Push, PushStatus{Rule: r, Clients: len(pushClients[r])})
		listed[r] = true
	}
	// Tunnels of persistent rules a reload removed live on until they end; show them too.
	var extra []string
	for r := range pushClients {
		if !listed[r] {
			extra = append(extra, r)
		}
	}
	slices.Sort(extra)
	for _, r := range extra {
		st.Push = append(st.Push, PushStatus{Rule: r, Clients: len(pushClients[r])})
	}

	st.Refusals, st.RefusalsDay, st.Rules = p.obs.report(now)
	st.EventsDropped = p.obs.Dropped()
	return st
}

// report returns the refusals of the last hour and day and the rule hits, most first.
func (o *Observer) report(now time.Time) (hour, day []Refusal, rules []RuleHits) {
	o.drain()
	o.mu.Lock()
	defer o.mu.Unlock()
	conv := func(rs []refusal) []Refusal {
		out := make([]Refusal, len(rs))
		for i, r := range rs {
			out[i] = Refusal{Target: joinHostPort(r.key.host, r.key.port), Reason: r.key.reason, Count: r.count, Tried: r.clients.count(), Suggestion: suggestion(r)}
		}
		return out
	}
	hour, day = conv(o.hour.top(now, topRefusals)), conv(o.day.top(now, topRefusals))
	rules = make([]RuleHits, 0, len(o.hits))
	for r, n := range o.hits {
		rules = append(rules, RuleHits{Rule: r, Hits: n})
	}
	slices.SortFunc(rules, func(a, b RuleHits) int { return cmp.Or(cmp.Compare(b.Hits, a.Hits), strings.Compare(a.Rule, b.Rule)) })
	return hour, day, rules
}
