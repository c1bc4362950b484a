package events_test

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Parsers of the text formats written from their specifications, not from
// the encoders: the tests and fuzz targets read the encoders' lines with
// them, so a value that escaped its field shows up as a wrong or extra key.

// parseCEF parses one CEF line (without its newline): the seven header
// fields after "CEF:" ('\' escapes '\' and '|') and the extension (keys of
// letters, digits and '_'; '\' escapes '\', '=', and writes \n and \r).
func parseCEF(line string) ([]string, map[string]string, error) {
	rest, ok := strings.CutPrefix(line, "CEF:")
	if !ok {
		return nil, nil, fmt.Errorf("no CEF: prefix: %q", line)
	}
	header, i, err := parseHeader(rest, 7)
	if err != nil {
		return nil, nil, err
	}
	ext, err := parseCEFExtension(rest[i:])
	return header, ext, err
}

// parseHeader reads n '|'-terminated header fields from s ('\' escapes '\'
// and '|'; no control bytes) and returns them and where the rest begins.
func parseHeader(s string, n int) ([]string, int, error) {
	var header []string
	var cur strings.Builder
	i := 0
	for len(header) < n {
		if i >= len(s) {
			return nil, 0, fmt.Errorf("header has %d fields: %q", len(header), s)
		}
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '\\' || s[i+1] == '|'):
			cur.WriteByte(s[i+1])
			i += 2
			continue
		case c == '\\':
			return nil, 0, fmt.Errorf("bad header escape at %d: %q", i, s)
		case c == '|':
			header = append(header, cur.String())
			cur.Reset()
		case c < 0x20:
			return nil, 0, fmt.Errorf("control byte in header: %q", s)
		default:
			cur.WriteByte(c)
		}
		i++
	}
	return header, i, nil
}

func parseCEFExtension(s string) (map[string]string, error) {
	ext := map[string]string{}
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || !isCEFKey(s[:eq]) {
			return nil, fmt.Errorf("no key at %q", s)
		}
		key := s[:eq]
		s = s[eq+1:]
		var v strings.Builder
		for len(s) > 0 {
			c := s[0]
			if c == '\\' {
				if len(s) < 2 {
					return nil, fmt.Errorf("dangling backslash in %s", key)
				}
				switch s[1] {
				case '\\', '=':
					v.WriteByte(s[1])
				case 'n':
					v.WriteByte('\n')
				case 'r':
					v.WriteByte('\r')
				default:
					return nil, fmt.Errorf("bad escape \\%c in %s", s[1], key)
				}
				s = s[2:]
				continue
			}
			if c == '=' {
				return nil, fmt.Errorf("unescaped = in the value of %s", key)
			}
			if c == '\n' || c == '\r' {
				return nil, fmt.Errorf("raw line break in the value of %s", key)
			}
			if c == ' ' && startsCEFKey(s[1:]) {
				s = s[1:]
				break
			}
			v.WriteByte(c)
			s = s[1:]
		}
		if _, dup := ext[key]; dup {
			return nil, fmt.Errorf("key %s twice", key)
		}
		ext[key] = v.String()
	}
	return ext, nil
}

func isCEFKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return k != ""
}

// startsCEFKey reports whether s begins with key=.
func startsCEFKey(s string) bool {
	eq := strings.IndexByte(s, '=')
	return eq > 0 && isCEFKey(s[:eq])
}

// parseLEEF parses one LEEF 2.0 line: five header fields after "LEEF:2.0|"
// ('\' escapes '\' and '|'), the declared delimiter (a character or xHH),
// then attributes key=value split by the delimiter, values unescaped
// (\\, \t, \n, \r).
func parseLEEF(line string) ([]string, map[string]string, error) {
	rest, ok := strings.CutPrefix(line, "LEEF:2.0|")
	if !ok {
		return nil, nil, fmt.Errorf("no LEEF:2.0 prefix: %q", line)
	}
	header, i, err := parseHeader(rest, 5)
	if err != nil {
		return nil, nil, err
	}
	delim := header[4]
	var d byte
	switch {
	case len(delim) == 1:
		d = delim[0]
	case len(delim) == 3 && (delim[0] == 'x' || delim[0] == 'X'):
		var v int
		if _, err := fmt.Sscanf(delim[1:], "%02x", &v); err != nil {
			return nil, nil, fmt.Errorf("delimiter %q: %v", delim, err)
		}
		d = byte(v)
	default:
		return nil, nil, fmt.Errorf("delimiter %q", delim)
	}
	attrs := map[string]string{}
	for _, pair := range strings.Split(rest[i:], string(d)) {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || !isCEFKey(k) {
			return nil, nil, fmt.Errorf("attribute %q", pair)
		}
		var b strings.Builder
		for j := 0; j < len(v); j++ {
			c := v[j]
			if c < 0x20 {
				return nil, nil, fmt.Errorf("control byte in %s", k)
			}
			if c != '\\' {
				b.WriteByte(c)
				continue
			}
			if j+1 >= len(v) {
				return nil, nil, fmt.Errorf("dangling backslash in %s", k)
			}
			j++
			switch v[j] {
			case '\\':
				b.WriteByte('\\')
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				return nil, nil, fmt.Errorf("bad escape in %s", k)
			}
		}
		if _, dup := attrs[k]; dup {
			return nil, nil, fmt.Errorf("attribute %s twice", k)
		}
		attrs[k] = b.String()
	}
	return header[:4], attrs, nil
}

// sanitized is what a text format keeps of a client's value: cut to 1023
// bytes (on a rune boundary), invalid UTF-8 and control characters other
// than line breaks and tabs replaced by U+FFFD. keep lists the control
// characters the format escapes instead of replacing.
func sanitized(s string, keep string) string {
	if len(s) > 1023 {
		i := 1023
		for i > 1023-utf8.UTFMax && i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteRune(utf8.RuneError)
		case strings.ContainsRune(keep, r):
			b.WriteRune(r)
		case r < 0x20 || r >= 0x7f && r < 0xa0 || r == '\u2028' || r == '\u2029':
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
