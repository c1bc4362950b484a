package events

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// OutputConfig is one entry of log.outputs.
type OutputConfig struct {
	// Format is json (the default when empty), cef, leef or squid.
	Format string
	// Output is stdout, stderr, file:PATH (opened for append, created
	// 0640), or syslog+udp://, syslog+tcp:// or syslog+tls://HOST:PORT.
	Output string
	// Level is the least severe event the output receives; "" inherits
	// log.level. A warn output receives denials only.
	Level string
	// Rotate, for a file output, rotates it by size; nil keeps one file
	// (rotated by logrotate, say, with SIGHUP to reopen it).
	Rotate *Rotate
	// TLS is how a syslog+tls output checks its collector and proves
	// itself; it must be empty for other outputs.
	TLS TLSConfig
}

// Rotate is an output's rotate: section (lumberjack's settings).
type Rotate struct {
	MaxSizeMB  int  // rotate when the file reaches this size; must be > 0
	MaxBackups int  // rotated files kept; 0 keeps all (within MaxAgeDays)
	MaxAgeDays int  // rotated files older than this are removed; 0 keeps them
	Compress   bool // gzip rotated files
}

// TLSConfig is an output's tls: section.
type TLSConfig struct {
	CA         string // PEM file of the CAs the collector's certificate must chain to; "" = the system's
	Cert, Key  string // PEM files of a client certificate and its key, both or neither
	ServerName string // the name the collector's certificate must carry; "" = the host of the URL
}

func (t TLSConfig) isZero() bool { return t == TLSConfig{} }

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

	// Aggregate is log.aggregate: identical denials (same client, target
	// and reason) within this window become one event with a count; 0 is
	// off.
	Aggregate time.Duration

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
	sinkSyslog
)

// outputPlan is one checked output: everything New needs, nothing opened.
type outputPlan struct {
	key    string // "log.outputs[1]" or "log" (short form): prefix of error keys
	name   string // the output as configured, for stats and OnError
	format string
	level  Level
	kind   sinkKind
	path   string  // sinkFile only
	rotate *Rotate // sinkFile only
	// sinkSyslog only: transportUDP, transportTCP or transportTLS, the
	// collector's HOST:PORT, and for TLS how to check it.
	transport string
	addr      string
	tls       TLSConfig
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
	if cfg.Aggregate < 0 {
		bad("log.aggregate", fmt.Errorf("%s is negative (0 turns aggregation off)", cfg.Aggregate))
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
		if kind == sinkSyslog {
			op.transport, op.addr, op.path = strings.TrimPrefix(path[:strings.Index(path, "://")], "syslog+"), path[strings.Index(path, "://")+3:], ""
		}
		if oc.Rotate != nil {
			if kind != sinkFile {
				bad(op.key+".rotate", errors.New("only a file: output rotates"))
			} else if err := oc.Rotate.check(); err != nil {
				bad(op.key+".rotate", err)
			}
			op.rotate = oc.Rotate
		}
		if !oc.TLS.isZero() {
			if op.transport != transportTLS {
				bad(op.key+".tls", errors.New("only a syslog+tls:// output has tls settings"))
			} else if err := oc.TLS.check(); err != nil {
				bad(op.key+".tls", err)
			}
			op.tls = oc.TLS
		}
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
const outputSyntax = "want stdout, stderr, file:PATH or syslog+udp|tcp|tls://HOST:PORT"

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
		if hostPort, ok := strings.CutPrefix(s, scheme+"://"); ok {
			hostPort = strings.TrimSuffix(hostPort, "/")
			host, port, err := net.SplitHostPort(hostPort)
			if err != nil || host == "" || port == "" {
				return 0, "", fmt.Errorf("%q: write %s://HOST:PORT", s, scheme)
			}
			if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
				return 0, "", fmt.Errorf("%q: port %q is not 1-65535", s, port)
			}
			return sinkSyslog, scheme + "://" + hostPort, nil
		}
	}
	return 0, "", fmt.Errorf("unknown output %q (%s)", s, outputSyntax)
}

// check checks a rotate: section.
func (r *Rotate) check() error {
	switch {
	case r.MaxSizeMB <= 0:
		return fmt.Errorf("max_size_mb must be at least 1, not %d", r.MaxSizeMB)
	case r.MaxBackups < 0:
		return fmt.Errorf("max_backups %d is negative", r.MaxBackups)
	case r.MaxAgeDays < 0:
		return fmt.Errorf("max_age_days %d is negative", r.MaxAgeDays)
	}
	return nil
}

// check checks a tls: section without reading the files.
func (t TLSConfig) check() error {
	if (t.Cert == "") != (t.Key == "") {
		return errors.New("cert and key go together: give both or neither")
	}
	return nil
}

// load builds the TLS client configuration for a collector at addr.
func (t TLSConfig) load(addr string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if c.ServerName == "" {
		c.ServerName, _, _ = net.SplitHostPort(addr)
	}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("tls.ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca: %s holds no PEM certificate", t.CA)
		}
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls.cert, tls.key: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// sinkIdentity names where an output writes, to catch the same place twice.
func sinkIdentity(kind sinkKind, path string) string {
	switch kind {
	case sinkStdout:
		return "stdout"
	case sinkStderr:
		return "stderr"
	case sinkSyslog:
		return path
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return "file:" + filepath.Clean(path)
}
