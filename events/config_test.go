package events_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/events"
)

func TestValidate(t *testing.T) {
	tmp := t.TempDir()
	file := "file:" + filepath.Join(tmp, "events.json")
	tests := []struct {
		name string
		cfg  events.Config
		want []string // substrings of the error, in order of appearance; none = valid
	}{
		{name: "zero config", cfg: events.Config{}},
		{name: "short form", cfg: events.Config{Level: "warn", Format: "json", Output: "stderr"}},
		{name: "short form without output", cfg: events.Config{Format: "json"}},
		{name: "list", cfg: events.Config{Level: "debug", Outputs: []events.OutputConfig{
			{Format: "json", Output: "stdout"}, {Output: file, Level: "WARN"}}}},
		{name: "file URL spelling", cfg: events.Config{Output: "file:///var/log/mdmproxy/events.json"}},
		{name: "relative file", cfg: events.Config{Output: "file:events.json"}},

		{name: "bad log.level", cfg: events.Config{Level: "verbose"},
			want: []string{`log.level: unknown level "verbose"`}},
		{name: "short form cef", cfg: events.Config{Format: "cef", Output: "stdout"}},
		{name: "short form syslog", cfg: events.Config{Output: "syslog+udp://siem:514"}},
		{name: "syslog without port", cfg: events.Config{Output: "syslog+udp://siem"},
			want: []string{`log.output: "syslog+udp://siem": write syslog+udp://HOST:PORT`}},
		{name: "syslog port 0", cfg: events.Config{Output: "syslog+tcp://siem:0"},
			want: []string{`log.output: "syslog+tcp://siem:0": port "0" is not 1-65535`}},
		{name: "syslog IPv6", cfg: events.Config{Output: "syslog+tcp://[::1]:601"}},
		{name: "tls settings on tcp", cfg: events.Config{Outputs: []events.OutputConfig{{Output: "syslog+tcp://siem:601", TLS: events.TLSConfig{CA: "/ca.pem"}}}},
			want: []string{"log.outputs[0].tls: only a syslog+tls:// output has tls settings"}},
		{name: "tls cert without key", cfg: events.Config{Outputs: []events.OutputConfig{{Output: "syslog+tls://siem:6514", TLS: events.TLSConfig{Cert: "/c.pem"}}}},
			want: []string{"log.outputs[0].tls: cert and key go together"}},
		{name: "rotate on stdout", cfg: events.Config{Outputs: []events.OutputConfig{{Output: "stdout", Rotate: &events.Rotate{MaxSizeMB: 1}}}},
			want: []string{"log.outputs[0].rotate: only a file: output rotates"}},
		{name: "rotate size 0", cfg: events.Config{Outputs: []events.OutputConfig{{Output: file, Rotate: &events.Rotate{}}}},
			want: []string{"log.outputs[0].rotate: max_size_mb must be at least 1"}},
		{name: "rotate", cfg: events.Config{Outputs: []events.OutputConfig{{Output: file, Rotate: &events.Rotate{MaxSizeMB: 10, MaxBackups: 3}}}}},
		{name: "negative aggregate", cfg: events.Config{Aggregate: -time.Second}, want: []string{"log.aggregate: -1s is negative"}},
		{name: "same syslog twice", cfg: events.Config{Outputs: []events.OutputConfig{{Output: "syslog+tcp://siem:601"}, {Output: "syslog+tcp://siem:601/", Format: "cef"}}},
			want: []string{"log.outputs[1].output: syslog+tcp://siem:601/ is already the output of log.outputs[0]"}},
		{name: "short form unknown output", cfg: events.Config{Output: "/var/log/x"},
			want: []string{`log.output: unknown output "/var/log/x"`}},
		{name: "list syslog+tls", cfg: events.Config{Outputs: []events.OutputConfig{
			{Output: "stdout"}, {Format: "json", Output: "syslog+tls://siem.school.lan:6514", Level: "warn"}}}},
		{name: "list leef and squid", cfg: events.Config{Outputs: []events.OutputConfig{
			{Format: "leef", Output: "stdout"}, {Format: "squid", Output: "stderr"}}}},
		{name: "unknown format", cfg: events.Config{Outputs: []events.OutputConfig{{Format: "xml", Output: "stdout"}}},
			want: []string{`log.outputs[0].format: unknown format "xml"`}},
		{name: "bad output level", cfg: events.Config{Outputs: []events.OutputConfig{{Output: "stdout", Level: "loud"}}},
			want: []string{`log.outputs[0].level: unknown level "loud"`}},
		{name: "missing output in list", cfg: events.Config{Outputs: []events.OutputConfig{{Format: "json"}}},
			want: []string{"log.outputs[0].output: missing"}},
		{name: "file without path", cfg: events.Config{Outputs: []events.OutputConfig{{Output: "file:"}}},
			want: []string{"log.outputs[0].output: \"file:\": file: needs a path"}},
		{name: "file URL with host", cfg: events.Config{Output: "file://var/log/x"},
			want: []string{"log.output: \"file://var/log/x\": write file:/absolute/path"}},
		{name: "same file twice", cfg: events.Config{Outputs: []events.OutputConfig{
			{Output: file}, {Output: "stdout"}, {Output: file + "/../" + "events.json", Format: "json"}}},
			want: []string{"log.outputs[2].output: ", "is already the output of log.outputs[0]"}},
		{name: "stdout twice", cfg: events.Config{Outputs: []events.OutputConfig{{Output: "stdout"}, {Output: "stdout", Level: "warn"}}},
			want: []string{"log.outputs[1].output: stdout is already the output of log.outputs[0]"}},
		{name: "short and list together", cfg: events.Config{Output: "stdout", Outputs: []events.OutputConfig{{Output: "stderr"}}},
			want: []string{"log.outputs: give either log.output and log.format"}},
		{name: "all problems at once", cfg: events.Config{Level: "x", Outputs: []events.OutputConfig{
			{Format: "xml", Output: "syslog+udp://a"}, {Output: "nowhere", Level: "y"}}},
			want: []string{"log.level:", "log.outputs[0].format:", "log.outputs[0].output:", "log.outputs[1].level:", "log.outputs[1].output:"}},
		{name: "negative queue", cfg: events.Config{QueueSize: -1}, want: []string{"log: queue size -1 is negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := events.Validate(tt.cfg)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tt.cfg)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q lacks %q (in order)", msg, w)
				}
				rest = rest[i+len(w):]
			}
			var ce *events.ConfigError
			if !errors.As(err, &ce) || !strings.HasPrefix(ce.Key, "log") {
				t.Errorf("error %v is not a *ConfigError naming a log key", err)
			}
			// New must refuse what Validate refuses, with the same words.
			l, nerr := events.New(tt.cfg)
			if nerr == nil {
				l.Close()
				t.Fatalf("New accepted what Validate refused")
			}
			if nerr.Error() != msg {
				t.Errorf("New: %q\nValidate: %q", nerr, msg)
			}
		})
	}
}

// TestValidateOpensNothing: a file output that cannot be opened is New's
// problem, not Validate's (validate may run on another machine).
func TestValidateOpensNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "events.json")
	cfg := events.Config{Outputs: []events.OutputConfig{{Output: "stdout"}, {Output: "file:" + path}}}
	if err := events.Validate(cfg); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	_, err := events.New(cfg)
	if err == nil || !strings.HasPrefix(err.Error(), "log.outputs[1].output: open "+path) {
		t.Fatalf("New: %v, want log.outputs[1].output: open %s: ...", err, path)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]events.Level{
		"debug": events.LevelDebug, "info": events.LevelInfo, "warn": events.LevelWarn,
		"Warning": events.LevelWarn, "ERROR": events.LevelError,
	} {
		got, err := events.ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "trace", "fatal", "disabled", "2"} {
		if _, err := events.ParseLevel(in); err == nil {
			t.Errorf("ParseLevel(%q) accepted", in)
		}
	}
}
