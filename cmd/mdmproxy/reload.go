package main

import (
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"

	"github.com/mdmproxy/mdmproxy/config"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/internal/app"
	"github.com/mdmproxy/mdmproxy/internal/status"
	"github.com/mdmproxy/mdmproxy/proxy"
)

// reloader applies a changed configuration without dropping tunnels: it builds everything
// new first and swaps only when all of it is valid; otherwise the running configuration stays.
type reloader struct {
	path    string
	flags   map[string]string
	srv     *proxy.Server
	sink    *eventSink
	log     zerolog.Logger
	admin   *adminState   // admin_pprof follows the configuration
	metrics *serveMetrics // reloads by outcome, the loaded policy
	page    *status.Page  // told of each reload; may be nil
	pac     *pacServer    // the PAC file follows the policy and pac.*

	mu      sync.Mutex
	current *config.Config
}

func (r *reloader) config() *config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

// reload loads the configuration again and applies it if it is valid, and counts the outcome.
func (r *reloader) reload(trigger string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := r.apply(trigger)
	r.metrics.reloaded(ok)
	reportReload(r.page, trigger, ok, r.current)
	return ok
}

func (r *reloader) apply(trigger string) bool {
	cfg, err := config.Load(config.LoadOptions{Path: r.path, Flags: r.flags})
	if err != nil {
		r.log.Error().Str("trigger", trigger).Err(err).Msg("reload rejected; the running configuration stays")
		return false
	}
	// The listeners stay those the process opened: the configuration it runs, and the next
	// reload's comparison, say so, and every reload whose file asks for others warns again.
	changed, asked := keepListeners(cfg, r.current)
	settings, err := app.Settings(cfg)
	if err != nil {
		r.log.Error().Str("trigger", trigger).Err(err).Msg("reload rejected; the running configuration stays")
		return false
	}
	servePAC, err := r.pac.prepare(cfg, settings.Policy)
	if err != nil {
		r.log.Error().Str("trigger", trigger).Err(err).Msg("reload rejected: cannot generate the PAC file; the running configuration stays")
		return false
	}
	if !sameOutputs(cfg, r.current) {
		l, err := events.New(eventsConfigLogged(cfg, r.log))
		if err != nil {
			r.log.Error().Str("trigger", trigger).Err(err).Msg("reload rejected: cannot open the event outputs")
			return false
		}
		r.sink.swap(l)
	}
	if len(changed) > 0 {
		r.log.Warn().Str("trigger", trigger).Strs("changed", changed).Strs("asked", asked).Str("listen", cfg.Listen).Str("admin_listen", cfg.AdminListen).
			Strs("transparent_listen", cfg.Transparent.Listen).Str("transparent_mode", cfg.Transparent.Mode).Str("pac_listen", cfg.PAC.Listen).
			Msg("listen addresses and transparent.mode change only on restart; these stay")
	}
	r.srv.Update(settings)
	servePAC()
	r.admin.pprof.Store(cfg.AdminPprof)
	r.metrics.policy.Store(&policyInfo{hash: settingsHash(cfg), rules: len(settings.Policy.Rules()), loadedAt: time.Now()})
	r.current = cfg
	r.log.Info().Str("trigger", trigger).Int("rules", len(settings.Policy.Rules())).Msg("configuration reloaded")
	return true
}

// keepListeners gives cfg the listen addresses and transparent.mode of running, which a reload
// cannot change, and returns the keys cfg asked to change and the values it asked for.
func keepListeners(cfg, running *config.Config) (changed, asked []string) {
	differ := func(key, want, have string) {
		if want != have {
			changed, asked = append(changed, key), append(asked, want)
		}
	}
	differ("listen", cfg.Listen, running.Listen)
	differ("admin_listen", cfg.AdminListen, running.AdminListen)
	differ("pac.listen", cfg.PAC.Listen, running.PAC.Listen)
	if !slices.Equal(cfg.Transparent.Listen, running.Transparent.Listen) {
		changed, asked = append(changed, "transparent.listen"), append(asked, strings.Join(cfg.Transparent.Listen, ","))
	}
	differ("transparent.mode", cfg.Transparent.Mode, running.Transparent.Mode)
	cfg.Listen, cfg.AdminListen, cfg.PAC.Listen = running.Listen, running.AdminListen, running.PAC.Listen
	cfg.Transparent.Listen, cfg.Transparent.Mode = running.Transparent.Listen, running.Transparent.Mode
	return changed, asked
}

// watch reloads when the configuration file changes. It watches the file's directory, which
// also catches editors that replace the file and Kubernetes' ConfigMap symlink swap, and
// debounces bursts of events into one reload. It returns a function that stops watching.
func (r *reloader) watch() func() {
	if r.path == "" {
		return func() {}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Warn().Err(err).Msg("cannot watch the configuration file; reload with SIGHUP")
		return func() {}
	}
	abs, _ := filepath.Abs(r.path)
	dir := filepath.Dir(abs)
	if err := w.Add(dir); err != nil {
		r.log.Warn().Err(err).Msg("cannot watch the configuration directory; reload with SIGHUP")
		w.Close()
		return func() {}
	}
	done := make(chan struct{})
	go r.watchLoop(w, abs, done)
	return func() { close(done); w.Close() }
}

func (r *reloader) watchLoop(w *fsnotify.Watcher, file string, done chan struct{}) {
	const settle = 300 * time.Millisecond
	var timer <-chan time.Time
	for {
		select {
		case <-done:
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			base := filepath.Base(ev.Name)
			if ev.Name == file || base == "..data" {
				timer = time.After(settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			r.log.Warn().Err(err).Msg("configuration watch error")
		case <-timer:
			timer = nil
			r.reload("file changed")
		}
	}
}
