package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Values of log.level and of each output's level, format and output scheme.
var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"json", "cef", "leef", "squid"}
	syslogURLs = []string{"syslog+udp://", "syslog+tcp://", "syslog+tls://"}
)

// log decodes the log section. The short form {format, output} is one output; it and
// log.outputs exclude each other.
func (d *decoder) log(l *Log) {
	d.str("log.level", &l.Level)
	short := LogOutput{Format: "json", Output: "stdout"}
	formatSet := d.str("log.format", &short.Format)
	outputSet := d.str("log.output", &short.Output)
	val, listSet := d.get("log.outputs")

	if !listSet {
		l.Outputs = []LogOutput{short}
		d.aliases = map[string]string{
			"log.outputs[0]":        "log",
			"log.outputs[0].format": "log.format",
			"log.outputs[0].output": "log.output",
			"log.outputs[0].level":  "log.level",
		}
		return
	}
	if formatSet || outputSet {
		key := "log.format"
		if !formatSet {
			key = "log.output"
		}
		d.failf(key, "use either the short form (log.format, log.output: one output) or log.outputs (a list), not both")
	}
	if items, ok := val.([]any); ok && len(items) == 0 {
		d.failf("log.outputs", "must list at least one output, e.g. [{format: json, output: stdout}]")
	}
	keys, maps := objectItems("log.outputs", val)
	l.Outputs = make([]LogOutput, 0, len(maps))
	for i, m := range maps {
		o := LogOutput{Format: "json", Output: "stdout"}
		for _, f := range []struct {
			name string
			dst  *string
		}{{"format", &o.Format}, {"output", &o.Output}, {"level", &o.Level}} {
			if val := m[f.name]; val != nil {
				if s, err := toString(val); err != nil {
					d.fail(keys[i]+"."+f.name, err)
				} else {
					*f.dst = s
				}
			}
		}
		l.Outputs = append(l.Outputs, o)
	}
}

// checkLog checks the values of the log section. Output keys are log.outputs[i]; Load renames
// them for the short form.
func checkLog(l Log) Errors {
	var errs Errors
	if !slices.Contains(logLevels, l.Level) {
		errs = append(errs, Error{Key: "log.level", Msg: fmt.Sprintf("%s is not one of %s", quote(l.Level), strings.Join(logLevels, ", "))})
	}
	for i, o := range l.Outputs {
		key := indexKey("log.outputs", i)
		if o.Level != "" && !slices.Contains(logLevels, o.Level) {
			errs = append(errs, Error{Key: key + ".level", Msg: fmt.Sprintf("%s is not one of %s", quote(o.Level), strings.Join(logLevels, ", "))})
		}
		if !slices.Contains(logFormats, o.Format) {
			errs = append(errs, Error{Key: key + ".format", Msg: fmt.Sprintf("%s is not one of %s", quote(o.Format), strings.Join(logFormats, ", "))})
		}
		if err := checkOutput(o.Output); err != nil {
			errs = append(errs, Error{Key: key + ".output", Msg: err.Error()})
		}
	}
	return errs
}

// checkOutput checks an output: stdout, stderr, file:PATH or syslog+udp|tcp|tls://HOST:PORT.
func checkOutput(s string) error {
	const want = "stdout, stderr, file:PATH, syslog+udp://HOST:PORT, syslog+tcp://HOST:PORT or syslog+tls://HOST:PORT"
	switch {
	case s == "stdout" || s == "stderr":
		return nil
	case strings.HasPrefix(s, "file:"):
		if strings.TrimSpace(strings.TrimPrefix(s, "file:")) == "" {
			return fmt.Errorf("%s names no file (write file:/var/log/mdmproxy/events.log)", quote(s))
		}
		return nil
	case isSyslog(s):
		u, err := url.Parse(s)
		if err != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("%s is not of the form %sHOST:PORT", quote(s), s[:strings.Index(s, "//")+2])
		}
		if err := checkRemoteAddr(u.Host); err != nil {
			return fmt.Errorf("%s: %v", quote(s), err)
		}
		return nil
	}
	return fmt.Errorf("%s is not one of %s", quote(s), want)
}

// isSyslog reports whether an output is a syslog URL.
func isSyslog(output string) bool {
	return slices.ContainsFunc(syslogURLs, func(p string) bool { return strings.HasPrefix(output, p) })
}
