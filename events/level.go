package events

import (
	"fmt"
	"strings"

	"github.com/rs/zerolog"
)

// Level is the severity of an event, used to filter outputs. It is zerolog's
// type so that the operational log and the event stream share one notion of
// level; only debug, info, warn and error are used here.
type Level = zerolog.Level

// The levels a configuration may name.
const (
	LevelDebug = zerolog.DebugLevel
	LevelInfo  = zerolog.InfoLevel
	LevelWarn  = zerolog.WarnLevel
	LevelError = zerolog.ErrorLevel
)

// ParseLevel parses a configured level: debug, info, warn or error (any case).
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return LevelDebug, nil
	case "info":
		return LevelInfo, nil
	case "warn", "warning":
		return LevelWarn, nil
	case "error":
		return LevelError, nil
	}
	return LevelInfo, fmt.Errorf("unknown level %q (want debug, info, warn or error)", s)
}

// levelName is the log.level value written into records. It does not use
// zerolog's Level.String, whose values are package globals the operational
// logger may change (zerolog.LevelWarnValue and friends).
func levelName(l Level) string {
	switch l {
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	}
	return "info"
}
