package events_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdmproxy/mdmproxy/events"
)

// readLines returns the records of a file, each checked to be JSON.
func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		out = append(out, decodeLine(t, append(sc.Bytes(), '\n')))
	}
	return out
}

func actionOf(m map[string]any) string {
	return m["event"].(map[string]any)["action"].(string)
}

func TestFileOutputAndLevelFiltering(t *testing.T) {
	dir := t.TempDir()
	all := filepath.Join(dir, "all.json")
	warn := filepath.Join(dir, "warn.json")
	l, err := events.New(events.Config{
		Level:    "info",
		Observer: "gw1",
		Outputs: []events.OutputConfig{
			{Format: "json", Output: "file:" + all},
			{Format: "json", Output: "file:" + warn, Level: "warn"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sent := []events.Action{events.ActionSplice, events.ActionDeny, events.ActionUpstream, events.ActionAllow, events.ActionEnd, events.ActionDeny}
	for _, a := range sent {
		l.Emit(&events.Event{Time: testTime, Action: a, Rule: "r"})
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	got := readLines(t, all)
	if len(got) != len(sent) {
		t.Fatalf("%s has %d records, want %d", all, len(got), len(sent))
	}
	for i, m := range got {
		if actionOf(m) != string(sent[i]) {
			t.Errorf("record %d: action %s, want %s", i, actionOf(m), sent[i])
		}
	}
	got = readLines(t, warn)
	if len(got) != 2 {
		t.Fatalf("warn output has %d records, want the 2 denials", len(got))
	}
	for _, m := range got {
		if actionOf(m) != "deny" {
			t.Errorf("warn output got a %s event", actionOf(m))
		}
	}
	if l.Dropped() != 0 {
		t.Errorf("Dropped = %d", l.Dropped())
	}
	st := l.Stats()
	if len(st) != 2 || st[0].Written != 6 || st[1].Written != 2 || st[0].Output != "file:"+all {
		t.Errorf("Stats = %+v", st)
	}
}

func TestFileOutputAppendsAndCreates0640(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.json")

	// Created: no permission beyond 0640 (the umask may take more away).
	l, err := events.New(events.Config{Output: "file:" + path})
	if err != nil {
		t.Fatal(err)
	}
	l.Emit(&events.Event{Time: testTime, Action: events.ActionSplice})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o640 != 0 || perm&0o600 != 0o600 {
		t.Errorf("mode %v, want 0640 (less umask)", perm)
	}

	// Reopened: appended to, not truncated.
	l, err = events.New(events.Config{Output: "file://" + path})
	if err != nil {
		t.Fatal(err)
	}
	l.Emit(&events.Event{Time: testTime, Action: events.ActionEnd})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, path)
	if len(got) != 2 || actionOf(got[0]) != "splice" || actionOf(got[1]) != "end" {
		t.Fatalf("records %v, want splice then end", got)
	}
}

func TestEmitAfterCloseIsCounted(t *testing.T) {
	l, err := events.New(events.Config{Output: "file:" + filepath.Join(t.TempDir(), "e.json")})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Emit(&events.Event{Action: events.ActionDeny}) // must not panic
	if l.Dropped() != 1 {
		t.Errorf("Dropped = %d, want 1", l.Dropped())
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNilLogger(t *testing.T) {
	var l *events.Logger
	l.Emit(&events.Event{Action: events.ActionDeny})
	if l.Dropped() != 0 || l.Close() != nil || l.Stats() != nil {
		t.Error("nil Logger is not a no-op")
	}
}
