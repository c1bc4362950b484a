package status

import (
	"slices"
	"sync"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// PolicyInfo is what the status page says about the loaded policy.
type PolicyInfo struct {
	LoadedAt   time.Time   `json:"loaded_at"`
	Hash       string      `json:"hash"`
	Rules      int         `json:"rules"`
	Presets    []string    `json:"presets"`
	Mode       string      `json:"mode"`
	LastReload *ReloadInfo `json:"last_reload"` // nil before the first reload
}

// ReloadInfo is the last reload attempt and its outcome.
type ReloadInfo struct {
	At      time.Time `json:"at"`
	Trigger string    `json:"trigger"` // SIGHUP, file changed
	Outcome string    `json:"outcome"` // ok or rejected
	Error   string    `json:"error,omitempty"`
}

// Reload outcomes.
const (
	ReloadOK       = "ok"
	ReloadRejected = "rejected"
)

// policyState holds the policy facts, set by the command at start and on each reload.
type policyState struct {
	mu         sync.Mutex
	info       PolicyInfo
	persistent []string // names of the loaded policy's persistent rules, in policy order
}

func (p *policyState) loaded(at time.Time, spec allowlist.Spec, presets []string) {
	var persistent []string
	for _, r := range spec.Rules {
		if r.Persistent {
			persistent = append(persistent, r.Name)
		}
	}
	mode := "enforce"
	if spec.Report {
		mode = "report"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.info.LoadedAt, p.info.Hash, p.info.Rules, p.info.Mode = at, spec.Hash(), len(spec.Rules), mode
	p.info.Presets = slices.Clone(presets)
	if p.info.Presets == nil {
		p.info.Presets = []string{}
	}
	p.persistent = persistent
}

func (p *policyState) reloaded(r ReloadInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.info.LastReload = &r
}

func (p *policyState) get() (PolicyInfo, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	info := p.info
	if info.LastReload != nil {
		lr := *info.LastReload
		info.LastReload = &lr
	}
	return info, p.persistent
}
