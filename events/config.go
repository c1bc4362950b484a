package events

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// OutputConfig is one entry of log.outputs.
type OutputConfig struct {
	// Format is json (the default when empty); cef, leef and squid are
	// reserved for a later release and rejected.
	Format string
	// Output is stdout, stderr or file:PATH (opened for append, created
	// 0640). syslog+udp://, syslog+tcp:// and syslog+tls://HOST:PORT are
	// reserved for a later release and rejected.
	Output string
	// Level is the least severe event the output receives; "" inherits
	// log.level. A warn output receives denials only.
	Level string
}

// Config is the log: section of the configuration plus what the program
// knows about itself. The zero Config writes JSON events at info to stdout.
//
// log: comes in two forms, and Config mirrors both so that errors name the
// key the admin wrote. The short form, log: {format: json, output: stdout,
// level: info}, fills Format, Output and Level; the list form fills Level
// and Outputs. Setting both Output/Format and Outputs is an error.
type Config struct {
	// Level is log.level: the default level of every output; "" means info.
	Level string
	// Format and Output are the short form (log.format, log.output);
	// Output defaults to stdout there.
	Format string
	Output string
	// Outputs is log.outputs.
	Outputs []OutputConfig

	// Observer is observer.name; "" means os.Hostname().
	Observer string
	// Version is observer.version, mdmproxy's version; "" leaves it out.
	Version string
	// QueueSize is the number of events each output buffers while its
	// writer is busy; 0 means 4096. Beyond it events are dropped and counted.
	QueueSize int
	// CloseTimeout bounds how long Close waits for the queues to drain;
	// 0 means 2 s.
	CloseTimeout time.Duration
	// OnError, if set, is told when an output starts failing (a write error
	// after a success, so a full disk is reported once, not per event). It
	// runs on the output's goroutine and must not block for long.
	OnError func(output string, err error)
}

const (
	defaultQueueSize    = 4096
	defaultCloseTimeout = 2 * time.Second
)

// ConfigError is a configuration error tied to the key that holds the bad
// value, e.g. "log.outputs[1].output", so that callers can point at the line
// of the file that set it.
type ConfigError struct {
	Key string
	Err error
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Validate runs the checks New runs, without opening anything; it is what
// `mdmproxy validate` calls. All problems are reported together, each a
// *ConfigError naming its key (joined with errors.Join).
func Validate(cfg Config) error {
	_, err := cfg.plan()
	return err
}

// sinkKind is where an output's records go.
type sinkKind int

const (
	sinkStdout sinkKind = iota
	sinkStderr
	sinkFile
)

// outputPlan is one checked output: everything New needs, nothing opened.
type outputPlan struct {
	key    string // "log.outputs[1]" or "log" (short form): prefix of error keys
	name   string // the output as configured, for stats and OnError
	format string
	level  Level
	kind   sinkKind
	path   string // sinkFile only
}

// plan is a checked Config.
type plan struct {
	level        Level
	outputs      []outputPlan
	queueSize    int
	closeTimeout time.Duration
}

// plan checks cfg and fills in the defaults. It is shared by Validate and New
// so that the two cannot disagree.
func (cfg Config) plan() (plan, error) {
	var errs []error
	bad := func(key string, err error) { errs = append(errs, &ConfigError{Key: key, Err: err}) }

	p := plan{level: LevelInfo, queueSize: cfg.QueueSize, closeTimeout: cfg.CloseTimeout}
	if cfg.Level != "" {
		l, err := ParseLevel(cfg.Level)
		if err != nil {
			bad("log.level", err)
		}
		p.level = l
	}
	if p.queueSize == 0 {
		p.queueSize = defaultQueueSize
	} else if p.queueSize < 0 {
		bad("log", fmt.Errorf("queue size %d is negative", cfg.QueueSize))
	}
	if p.closeTimeout <= 0 {
		p.closeTimeout = defaultCloseTimeout
	}

	short := cfg.Format != "" || cfg.Output != ""
	var entries []OutputConfig
	var keys []string
	switch {
	case short && len(cfg.Outputs) > 0:
		bad("log.outputs", errors.New("give either log.output and log.format (one output) or log.outputs, not both"))
	case short:
		// The short form's level is log.level itself, so the entry inherits it.
		entries = []OutputConfig{{Format: cfg.Format, Output: cfg.Output}}
		keys = []string{"log"}
		if cfg.Output == "" {
			entries[0].Output = "stdout"
		}
	case len(cfg.Outputs) == 0:
		// What the embedded default policy promises: JSON events on stdout.
		entries = []OutputConfig{{Format: FormatJSON, Output: "stdout"}}
		keys = []string{"log"}
	default:
		entries = cfg.Outputs
		for i := range entries {
			keys = append(keys, fmt.Sprintf("log.outputs[%d]", i))
		}
	}

	seen := make(map[string]string) // sink identity -> key that named it first
	for i, oc := range entries {
		op := outputPlan{key: keys[i], name: oc.Output, format: oc.Format, level: p.level}
		if op.format == "" {
			op.format = FormatJSON
		}
		if _, err := NewEncoder(op.format, Observer{}); err != nil {
			bad(op.key+".format", err)
		}
		if oc.Level != "" {
			l, err := ParseLevel(oc.Level)
			if err != nil {
				bad(op.key+".level", err)
			}
			op.level = l
		}
		kind, path, err := parseOutput(oc.Output)
		if err != nil {
			bad(op.key+".output", err)
			continue
		}
		op.kind, op.path = kind, path
		id := sinkIdentity(kind, path)
		if first, dup := seen[id]; dup {
			// Two writers on one file interleave and double every event;
			// two on stdout double every event.
			bad(op.key+".output", fmt.Errorf("%s is already the output of %s", oc.Output, first))
			continue
		}
		seen[id] = op.key
		p.outputs = append(p.outputs, op)
	}
	return p, errors.Join(errs...)
}

// outputSyntax is appended to output errors to say what is accepted.
const outputSyntax = "want stdout, stderr or file:PATH"

// parseOutput parses an output value. Only the syntax is checked: a file is
// opened by New, not by Validate.
func parseOutput(s string) (sinkKind, string, error) {
	switch s {
	case "":
		return 0, "", errors.New("missing (" + outputSyntax + ")")
	case "stdout":
		return sinkStdout, "", nil
	case "stderr":
		return sinkStderr, "", nil
	}
	if path, ok := strings.CutPrefix(s, "file:"); ok {
		if strings.HasPrefix(path, "//") {
			// Accept the URL spelling file:///var/log/x, refuse
			// file://var/log/x, which means host "var" as a URL.
			if !strings.HasPrefix(path, "///") {
				return 0, "", fmt.Errorf("%q: write file:/absolute/path or file:relative/path", s)
			}
			path = path[2:]
		}
		if path == "" {
			return 0, "", fmt.Errorf("%q: file: needs a path", s)
		}
		return sinkFile, path, nil
	}
	for _, scheme := range []string{"syslog+udp", "syslog+tcp", "syslog+tls"} {
		if strings.HasPrefix(s, scheme+"://") {
			return 0, "", fmt.Errorf("%s output is not built yet (this release writes to stdout, stderr or file:PATH)", scheme)
		}
	}
	return 0, "", fmt.Errorf("unknown output %q (%s; syslog+udp|tcp|tls://HOST:PORT come in a later release)", s, outputSyntax)
}

// sinkIdentity names where an output writes, to catch the same place twice.
func sinkIdentity(kind sinkKind, path string) string {
	switch kind {
	case sinkStdout:
		return "stdout"
	case sinkStderr:
		return "stderr"
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return "file:" + filepath.Clean(path)
}
