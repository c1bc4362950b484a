package events

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestAppendQuotedTime checks the hand-written timestamp formatter against
// time.AppendFormat over random instants, zones and the edges.
func TestAppendQuotedTime(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("X", -9*3600-1800), time.FixedZone("Y", 14*3600)}
	times := []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 23, 18, 0, 0, 100000000, time.UTC),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		times = append(times, time.Unix(r.Int64N(1<<35), r.Int64N(1e9)).In(zones[r.IntN(len(zones))]))
	}
	for _, tm := range times {
		want := `"` + tm.UTC().Format(timestampLayout) + `"`
		if got := string(appendQuotedTime(nil, tm)); got != want {
			t.Fatalf("%v: got %s, want %s", tm, got, want)
		}
	}
}

// TestZerologGlobals: what the operational logger may set on zerolog's
// globals does not change the event records; a global Disabled level
// silences them, and Emit counts that as dropped rather than writing
// empty lines.
func TestZerologGlobals(t *testing.T) {
	e := &Event{Time: time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC), Action: ActionDeny, Rule: "r"}
	want := string(NewJSONEncoder("gw1").AppendEvent(nil, e))

	saved := []string{zerolog.LevelFieldName, zerolog.TimestampFieldName, zerolog.MessageFieldName, zerolog.LevelWarnValue, zerolog.TimeFieldFormat}
	savedLevel := zerolog.GlobalLevel()
	defer func() {
		zerolog.LevelFieldName, zerolog.TimestampFieldName, zerolog.MessageFieldName, zerolog.LevelWarnValue, zerolog.TimeFieldFormat =
			saved[0], saved[1], saved[2], saved[3], saved[4]
		zerolog.SetGlobalLevel(savedLevel)
	}()
	zerolog.LevelFieldName, zerolog.TimestampFieldName, zerolog.MessageFieldName = "severity", "ts", "msg"
	zerolog.LevelWarnValue, zerolog.TimeFieldFormat = "WARNING", zerolog.TimeFormatUnixMs
	zerolog.SetGlobalLevel(zerolog.ErrorLevel) // the operational log at error

	if got := string(NewJSONEncoder("gw1").AppendEvent(nil, e)); got != want {
		t.Fatalf("zerolog globals changed the record:\n got %s\nwant %s", got, want)
	}

	zerolog.SetGlobalLevel(zerolog.Disabled)
	var buf lockedBuffer
	l := testLogger(t, Config{}, &buf)
	l.Emit(e)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.Dropped() != 1 || len(buf.bytes()) != 0 {
		t.Fatalf("globally disabled: Dropped = %d, wrote %q", l.Dropped(), buf.bytes())
	}
}
