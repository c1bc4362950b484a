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
	d.duration("log.aggregate", &l.Aggregate)
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
		d.logRotate(keys[i]+".rotate", m["rotate"], &o.Rotate)
		d.logTLS(keys[i]+".tls", m["tls"], &o.TLS)
		l.Outputs = append(l.Outputs, o)
	}
}

// logRotate decodes an output's rotate section (checkStructure has checked its keys).
func (d *decoder) logRotate(key string, val any, r *LogRotate) {
	m, ok := asMap(val)
	if !ok {
		return
	}
	r.Set = true
	for _, f := range []struct {
		name string
		dst  *int
	}{{"max_size_mb", &r.MaxSizeMB}, {"max_backups", &r.MaxBackups}, {"max_age_days", &r.MaxAgeDays}} {
		if v := m[f.name]; v != nil {
			if n, err := toInt(v); err != nil {
				d.fail(key+"."+f.name, err)
			} else {
				*f.dst = n
			}
		}
	}
	if v := m["compress"]; v != nil {
		if b, err := toBool(v); err != nil {
			d.fail(key+".compress", err)
		} else {
			r.Compress = b
		}
	}
}

// logTLS decodes an output's tls section.
func (d *decoder) logTLS(key string, val any, t *LogTLS) {
	m, ok := asMap(val)
	if !ok {
		return
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"ca", &t.CA}, {"cert", &t.Cert}, {"key", &t.Key}, {"server_name", &t.ServerName}} {
		if v := m[f.name]; v != nil {
			if s, err := toString(v); err != nil {
				d.fail(key+"."+f.name, err)
			} else {
				*f.dst = s
			}
		}
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
		errs = append(errs, checkRotate(key+".rotate", o)...)
		errs = append(errs, checkTLS(key+".tls", o)...)
	}
	if l.Aggregate < 0 {
		errs = append(errs, Error{Key: "log.aggregate", Msg: fmt.Sprintf("%s is negative; 0 turns aggregation off", l.Aggregate)})
	}
	return errs
}

// checkRotate checks an output's rotate section.
func checkRotate(key string, o LogOutput) Errors {
	r := o.Rotate
	if !r.Set {
		return nil
	}
	if !strings.HasPrefix(o.Output, "file:") {
		return Errors{{Key: key, Msg: "only a file: output rotates; " + quote(o.Output) + " is not one"}}
	}
	var errs Errors
	if r.MaxSizeMB < 1 {
		errs = append(errs, Error{Key: key + ".max_size_mb", Msg: fmt.Sprintf("must be at least 1 (megabytes), not %d", r.MaxSizeMB)})
	}
	if r.MaxBackups < 0 {
		errs = append(errs, Error{Key: key + ".max_backups", Msg: fmt.Sprintf("must be 0 (keep all) or more, not %d", r.MaxBackups)})
	}
	if r.MaxAgeDays < 0 {
		errs = append(errs, Error{Key: key + ".max_age_days", Msg: fmt.Sprintf("must be 0 (keep forever) or more, not %d", r.MaxAgeDays)})
	}
	return errs
}

// checkTLS checks an output's tls section.
func checkTLS(key string, o LogOutput) Errors {
	if o.TLS == (LogTLS{}) {
		return nil
	}
	if !strings.HasPrefix(o.Output, "syslog+tls://") {
		return Errors{{Key: key, Msg: "only a syslog+tls:// output has tls settings; " + quote(o.Output) + " is not one"}}
	}
	if (o.TLS.Cert == "") != (o.TLS.Key == "") {
		k := key + ".key"
		if o.TLS.Cert == "" {
			k = key + ".cert"
		}
		return Errors{{Key: k, Msg: "cert and key go together: give both or neither"}}
	}
	return nil
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
