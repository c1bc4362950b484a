package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/mdmproxy/mdmproxy/config"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/internal/app"
	"github.com/mdmproxy/mdmproxy/proxy"
)

// serve runs the proxy until SIGTERM or SIGINT.
func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML, TOML or JSON); none: the embedded default policy")
	listen := fs.String("listen", "", "proxy address, overrides listen")
	adminListen := fs.String("admin-listen", "", "admin address (/metrics /healthz /readyz), overrides admin_listen")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mdmproxy serve: unexpected argument %q\n", fs.Arg(0))
		return exitInvalid
	}
	applyTimerSlack() // may exec the binary again: before anything is opened
	flags := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "listen":
			flags["listen"] = *listen
		case "admin-listen":
			flags["admin_listen"] = *adminListen
		}
	})

	// Signals are caught from the start, so a SIGHUP or SIGTERM sent as soon as the started line
	// appears is handled, not fatal. Events on stdout usually go to a pipe; if its reader dies,
	// a write must fail (and count as a dropped event) instead of killing the proxy with SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	cfg, code, ok := loadConfig(*path, flags, stderr)
	if !ok {
		return code
	}
	oplog := newOpLog(stderr, cfg.Log.Level)
	settings, err := app.Settings(cfg)
	if err != nil {
		oplog.Error().Err(err).Msg("invalid policy")
		return exitInvalid
	}
	evlog, err := events.New(eventsConfigLogged(cfg, oplog))
	if err != nil {
		oplog.Error().Err(err).Msg("cannot open the event outputs")
		return exitFailure
	}
	sink := &eventSink{}
	sink.cur.Store(evlog)

	srv := &proxy.Server{Events: sink, Log: oplog}
	srv.Update(settings)
	sm := newServeMetrics()
	sm.policy.Store(&policyInfo{hash: settingsHash(cfg), rules: len(settings.Policy.Rules()), loadedAt: time.Now()})
	page := newStatusPage(srv, cfg)
	defer page.Close()
	st := &adminState{status: page}
	st.policyLoaded.Store(true)
	st.pprof.Store(cfg.AdminPprof)

	// The admin listener comes first, so /readyz answers 503 until every proxy listener is up.
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		oplog.Error().Err(err).Str("admin_listen", cfg.AdminListen).Msg("cannot listen")
		evlog.Close()
		return exitFailure
	}
	st.expectListeners(listenerCount(cfg))
	admin := newAdminServer(adminHandler(st, newRegistry(srv, sink, sm)))
	go admin.Serve(adminLn)

	ln, err := proxy.Listen(context.Background(), "tcp", cfg.Listen)
	if err != nil {
		oplog.Error().Err(err).Str("listen", cfg.Listen).Msg("cannot listen")
		admin.Close()
		evlog.Close()
		return exitFailure
	}
	st.listenerUp()
	tlns, err := listenTransparent(cfg)
	if err != nil {
		oplog.Error().Err(err).Msg("cannot listen")
		ln.Close()
		admin.Close()
		evlog.Close()
		return exitFailure
	}
	for range tlns {
		st.listenerUp()
	}
	pacs, err := startPAC(cfg, settings.Policy, srv, ln)
	if err != nil {
		oplog.Error().Err(err).Str("pac_listen", cfg.PAC.Listen).Msg("cannot serve the PAC file")
		for _, tln := range tlns {
			tln.Close()
		}
		ln.Close()
		admin.Close()
		evlog.Close()
		return exitFailure
	}
	defer pacs.close()
	if cfg.PAC.Listen != "" {
		st.listenerUp()
	}
	srv.OwnAddrs = append([]netip.AddrPort{addrPort(adminLn.Addr())}, pacs.ownAddrs()...)

	rl := &reloader{path: *path, flags: flags, srv: srv, sink: sink, log: oplog, admin: st, metrics: sm, page: page, pac: pacs, current: cfg}
	stopWatch := rl.watch()
	defer stopWatch()

	served := make(chan error, 1+len(tlns))
	go func() { served <- srv.Serve(ln) }()
	mode, _ := proxy.ParseTransparentMode(cfg.Transparent.Mode) // checked by Load
	tnames := make([]string, len(tlns))
	for i, tln := range tlns {
		tnames[i] = tln.Addr().String()
		go func() { served <- srv.ServeTransparent(tln, mode) }()
	}
	oplog.Info().Str("listen", ln.Addr().String()).Str("admin_listen", adminLn.Addr().String()).
		Strs("transparent_listen", tnames).Str("transparent_mode", mode.String()).Str("pac_listen", pacs.addr()).
		Str("config", configName(*path)).Int("rules", len(settings.Policy.Rules())).Str("version", buildVersion()).
		Msg("mdmproxy started")

	for {
		select {
		case err := <-served:
			oplog.Error().Err(err).Msg("proxy listener failed")
			st.stopping.Store(true)
			sink.close()
			return exitFailure
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				// logrotate's postrotate sends SIGHUP: the event files reopen even when
				// the configuration is unchanged or fails to load.
				if err := sink.cur.Load().Reopen(); err != nil {
					oplog.Error().Err(err).Msg("cannot reopen an event output; it keeps its old file")
				}
				rl.reload("SIGHUP")
				continue
			}
			st.stopping.Store(true)
			to := rl.config().Timeouts
			oplog.Info().Str("signal", sig.String()).Int("open_tunnels", srv.OpenTunnels()).
				Dur("delay", to.ShutdownDelay).Dur("grace", to.ShutdownGrace).Msg("shutting down")
			delayShutdown(to.ShutdownDelay, sigs, oplog)
			ctx, cancel := context.WithTimeout(context.Background(), to.ShutdownGrace)
			err := srv.Shutdown(ctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				oplog.Warn().Msg("shutdown grace ended; open tunnels were closed")
				// Give the pumps a moment to emit their end events before the logger closes.
				wait := time.Now().Add(2 * time.Second)
				for srv.OpenTunnels() > 0 && time.Now().Before(wait) {
					time.Sleep(10 * time.Millisecond)
				}
			}
			admin.Close()
			sink.close()
			oplog.Info().Msg("mdmproxy stopped")
			return exitOK
		}
	}
}

// listenTransparent opens transparent.listen, all or none.
func listenTransparent(cfg *config.Config) ([]net.Listener, error) {
	mode, err := proxy.ParseTransparentMode(cfg.Transparent.Mode)
	if err != nil {
		return nil, fmt.Errorf("transparent.mode: %w", err)
	}
	var lns []net.Listener
	for _, addr := range cfg.Transparent.Listen {
		ln, err := proxy.ListenTransparent(context.Background(), addr, mode)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("transparent.listen %s: %w", addr, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func addrPort(a net.Addr) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// delayShutdown keeps the listeners accepting for timeouts.shutdown_delay while /readyz says
// 503, so a load balancer that polls it stops sending before connections are refused. A second
// SIGTERM or SIGINT ends the delay at once; a SIGHUP is ignored (no reload while stopping).
func delayShutdown(d time.Duration, sigs <-chan os.Signal, oplog zerolog.Logger) {
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return
		case sig := <-sigs:
			if sig != syscall.SIGHUP {
				oplog.Info().Str("signal", sig.String()).Msg("shutdown delay cut short")
				return
			}
		}
	}
}

// newOpLog is the operational log: JSON on stderr, separate from the event stream.
func newOpLog(w io.Writer, level string) zerolog.Logger {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("logger", "mdmproxy").Logger()
}

func configName(path string) string {
	if path == "" {
		return "embedded default"
	}
	return path
}

// eventSink lets a reload replace the event logger while connections emit. It keeps what
// the loggers it replaced wrote and dropped, so the metrics never go back when a reload
// changes the outputs.
type eventSink struct {
	cur atomic.Pointer[events.Logger]

	mu      sync.Mutex                    // held by swap and by readers of carried
	carried map[string]events.OutputStats // by output: replaced loggers' final counts
	late    uint64                        // replaced loggers' drops not charged to an output
}

func (s *eventSink) Emit(e *events.Event) { s.cur.Load().Emit(e) }

func (s *eventSink) swap(l *events.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Swap(l)
	old.Close()
	if s.carried == nil {
		s.carried = make(map[string]events.OutputStats)
	}
	var perOutput uint64
	for _, st := range old.Stats() {
		c := s.carried[st.Output]
		c.Output = st.Output
		c.Written += st.Written
		c.Dropped += st.Dropped
		s.carried[st.Output] = c
		perOutput += st.Dropped
	}
	s.late += old.Dropped() - perOutput
}

// stats returns each output's counts since start: the running logger's outputs and every
// output a reload removed. Queued is the running logger's only.
func (s *eventSink) stats() (outputs []events.OutputStats, dropped uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur.Load()
	seen := make(map[string]bool)
	for _, st := range cur.Stats() {
		c := s.carried[st.Output]
		st.Written += c.Written
		st.Dropped += c.Dropped
		outputs = append(outputs, st)
		seen[st.Output] = true
	}
	dropped = cur.Dropped() + s.late
	for name, c := range s.carried {
		if !seen[name] {
			c.Queued = 0
			outputs = append(outputs, c)
		}
		dropped += c.Dropped
	}
	return outputs, dropped
}

func (s *eventSink) close() { s.cur.Load().Close() }
