package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/config"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/internal/app"
	"github.com/mdmproxy/mdmproxy/proxy"
)

// loadConfig loads the configuration, printing problems to stderr. ok is false when the
// configuration is invalid (exit status 2) or unreadable.
func loadConfig(path string, flags map[string]string, stderr io.Writer) (*config.Config, int, bool) {
	cfg, err := config.Load(config.LoadOptions{Path: path, Flags: flags})
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			fmt.Fprintf(stderr, "mdmproxy: invalid configuration:\n%v\n", err)
			return nil, exitInvalid, false
		}
		fmt.Fprintf(stderr, "mdmproxy: %v\n", err)
		return nil, exitInvalid, false
	}
	return cfg, exitOK, true
}

// loadSettings loads the configuration and compiles it into the proxy's settings, printing
// problems to stderr; ok is false (exit status 2) when either step fails.
func loadSettings(path string, stderr io.Writer) (*proxy.Settings, int, bool) {
	cfg, code, ok := loadConfig(path, nil, stderr)
	if !ok {
		return nil, code, false
	}
	set, err := app.Settings(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "mdmproxy: invalid configuration:\n%v\n", err)
		return nil, exitInvalid, false
	}
	return set, exitOK, true
}

// eventsConfigLogged is app.Events whose outputs report, on the operational log, each time
// they start failing (the events themselves are counted as dropped).
func eventsConfigLogged(cfg *config.Config, oplog zerolog.Logger) events.Config {
	ec := app.Events(cfg)
	ec.Version = buildVersion()
	ec.OnError = func(output string, err error) {
		oplog.Error().Str("output", output).Err(err).Msg("event output failing; events are dropped and counted")
	}
	return ec
}

// sameOutputs reports whether two configurations ship events the same way, so a reload can
// keep the running event logger.
func sameOutputs(a, b *config.Config) bool {
	return a.Log.Level == b.Log.Level && a.Log.Aggregate == b.Log.Aggregate && slices.Equal(a.Log.Outputs, b.Log.Outputs)
}

func describeRule(r *allowlist.Rule) string {
	if r == nil {
		return "-"
	}
	var b strings.Builder
	b.WriteString(r.Name)
	b.WriteString(" (ports ")
	b.WriteString(r.Ports.String())
	if r.Persistent {
		b.WriteString(", persistent")
	}
	b.WriteString(", tls ")
	b.WriteString(r.TLS.String())
	b.WriteString(")")
	return b.String()
}
