package main

import (
	"time"

	"github.com/mdmproxy/mdmproxy/config"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/internal/status"
	"github.com/mdmproxy/mdmproxy/proxy"
)

// newStatusPage starts the status page (/ and /status.json on admin_listen) for srv: it sees
// the event stream beside the event outputs, reads open tunnels from srv when asked, and starts
// with cfg as the loaded policy. Close it when serve ends.
func newStatusPage(srv *proxy.Server, cfg *config.Config) *status.Page {
	page := status.New(srv.Tunnels)
	srv.Events = teeSink{page, srv.Events}
	page.PolicyLoaded(time.Now(), cfg.PolicySpec(), cfg.Presets)
	return page
}

// teeSink hands each event to two sinks. The status page comes first: its Emit copies a few
// fields and returns, whatever the outputs do with the event afterwards.
type teeSink struct{ first, second proxy.EventSink }

func (t teeSink) Emit(e *events.Event) {
	t.first.Emit(e)
	t.second.Emit(e)
}

// reportReload tells the status page about a reload attempt; cfg is the configuration in
// force after it (the new one when ok, the old one otherwise).
func reportReload(page *status.Page, trigger string, ok bool, cfg *config.Config) {
	if page == nil {
		return
	}
	now := time.Now()
	outcome := status.ReloadRejected
	if ok {
		outcome = status.ReloadOK
		page.PolicyLoaded(now, cfg.PolicySpec(), cfg.Presets)
	}
	page.Reloaded(status.ReloadInfo{At: now, Trigger: trigger, Outcome: outcome})
}
