package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// Converters from what viper decoded (YAML, TOML and JSON types, or strings from the
// environment and flags) to typed values. Each error is a message for Error.Msg.

// toString accepts a string.
func toString(val any) (string, error) {
	if s, ok := val.(string); ok {
		return s, nil
	}
	return "", fmt.Errorf("must be a string, not %s", describe(val))
}

// toList accepts a list, a comma-separated string (the environment's form; blank items are
// dropped) or a single number or boolean.
func toList(val any) ([]any, error) {
	switch v := val.(type) {
	case []any:
		return v, nil
	case string:
		var items []any
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		if items == nil {
			items = []any{}
		}
		return items, nil
	case map[string]any, map[any]any:
		return nil, fmt.Errorf("must be a list, not %s", describe(val))
	}
	return []any{val}, nil
}

// toBool accepts true and false, also as strings.
func toBool(val any) (bool, error) {
	switch v := val.(type) {
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, fmt.Errorf("must be true or false, not %s", describe(val))
}

// toInt accepts a whole number, also as a string.
func toInt(val any) (int, error) {
	bad := fmt.Errorf("must be a whole number, not %s", describe(val))
	switch v := val.(type) {
	case int:
		return v, nil
	case int8:
		return int(v), nil
	case int16:
		return int(v), nil
	case int32:
		return int(v), nil
	case int64:
		if v < math.MinInt || v > math.MaxInt {
			return 0, bad
		}
		return int(v), nil
	case uint:
		if v > math.MaxInt {
			return 0, bad
		}
		return int(v), nil
	case uint8:
		return int(v), nil
	case uint16:
		return int(v), nil
	case uint32:
		return int(v), nil
	case uint64:
		if v > math.MaxInt {
			return 0, bad
		}
		return int(v), nil
	case float32:
		return toInt(float64(v))
	case float64:
		// JSON numbers; 2^63 is the first float64 beyond int64.
		if v != math.Trunc(v) || v < math.MinInt64 || v >= math.MaxInt64 {
			return 0, bad
		}
		return int(v), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 0)
		if err != nil {
			return 0, bad
		}
		return int(n), nil
	}
	return 0, bad
}

// toDuration accepts a Go duration string ("90s", "10m", "24h") or the number 0 (also as a
// string, the environment's form).
func toDuration(val any) (time.Duration, error) {
	if s, ok := val.(string); ok {
		s = strings.TrimSpace(s)
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			d, err := time.ParseDuration(s)
			if err != nil {
				return 0, fmt.Errorf("%s is not a duration (write e.g. 90s, 10m, 24h)", quote(s))
			}
			return d, nil
		}
		// A bare number: handled as one below.
	}
	n, err := toInt(val)
	if err != nil {
		return 0, fmt.Errorf("must be a duration such as 90s, not %s", describe(val))
	}
	if n != 0 {
		return 0, fmt.Errorf("%d has no unit (write e.g. %ds)", n, n)
	}
	return 0, nil
}

// toPrefix parses a CIDR prefix and insists that it has no host bits set.
func toPrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a, aerr := netip.ParseAddr(s); aerr == nil {
			return netip.Prefix{}, fmt.Errorf("%s is an address, not a CIDR prefix (write %s/%d)", quote(s), a, a.BitLen())
		}
		return netip.Prefix{}, fmt.Errorf("%s is not a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32", quote(s))
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%s has host bits set (did you mean %s?)", quote(s), m)
	}
	return p, nil
}

// toPortRange accepts a port number or a string "443" or "5228-5230".
func toPortRange(val any) (allowlist.PortRange, error) {
	if s, ok := val.(string); ok {
		return allowlist.ParsePortRange(s)
	}
	n, err := toInt(val)
	if err != nil {
		return allowlist.PortRange{}, errors.New("must be a port (1-65535) or a range such as \"5228-5230\", not " + describe(val))
	}
	if n < 1 || n > 65535 {
		return allowlist.PortRange{}, fmt.Errorf("%d is not a port (1-65535)", n)
	}
	return allowlist.ParsePortRange(strconv.Itoa(n))
}

// quote quotes a value for a message, shortened if long.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}
