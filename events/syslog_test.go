package events_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/events"
)

// rfc5424 matches a whole RFC 5424 message as mdmproxy writes it: PRI,
// version 1, a UTC timestamp with microseconds, host, app, pid, MSGID, no
// structured data, and the message.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) ([!-~]{1,255}) mdmproxy (\d+) ([!-~]{1,32}) - (.*)$`)

// readOctetCounted reads one RFC 6587 octet-counted frame.
func readOctetCounted(r *bufio.Reader) (string, error) {
	n, err := r.ReadString(' ')
	if err != nil {
		return "", err
	}
	size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
	if err != nil || size <= 0 {
		return "", fmt.Errorf("bad frame length %q", n)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	return string(buf), nil
}

// waitUntil polls cond (every 5 ms, at most 10 s): for conditions of another
// process or goroutine with no event to wait on.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSyslogTCPOctetCounting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l, err := events.New(events.Config{Observer: "gw 1", Outputs: []events.OutputConfig{
		{Format: events.FormatCEF, Output: "syslog+tcp://" + ln.Addr().String()}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hostile := "a\nb|c=d"
	l.Emit(&events.Event{Action: events.ActionDeny, SNI: hostile, Time: testTime})
	l.Emit(&events.Event{Action: events.ActionSplice, SNI: "x.example", Time: testTime})
	r := bufio.NewReader(c)
	for i, want := range []struct{ pri, msgid string }{{"132", "deny"}, {"134", "splice"}} {
		msg, err := readOctetCounted(r)
		if err != nil {
			t.Fatal(err)
		}
		m := rfc5424.FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("message %d is not RFC 5424: %q", i, msg)
		}
		if m[1] != want.pri || m[2] != "2026-11-23T18:00:00.123456Z" || m[3] != "gw1" || m[4] != strconv.Itoa(os.Getpid()) || m[5] != want.msgid {
			t.Errorf("header %q", m[1:6])
		}
		_, ext, err := parseCEF(m[6])
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && ext["cs2"] != hostile {
			t.Errorf("cs2 %q", ext["cs2"])
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats()[0]; st.Written != 2 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestSyslogUDPOneDatagramEach(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := events.New(events.Config{Observer: "gw1", Outputs: []events.OutputConfig{
		{Format: events.FormatJSON, Output: "syslog+udp://" + pc.LocalAddr().String()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	long := strings.Repeat("x", 5000)
	// The output connects on its own goroutine; until it has, events are
	// dropped. Send until one arrives (bounded by count).
	buf := make([]byte, 65536)
	n := 0
	for i := 0; i < 200 && n == 0; i++ {
		l.Emit(&events.Event{Action: events.ActionDeny, SNI: long, URL: "http://" + long, Reason: "r" + strconv.Itoa(i)})
		pc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, _, _ = pc.ReadFrom(buf)
	}
	if n == 0 {
		t.Fatal("no datagram arrived")
	}
	m := rfc5424.FindStringSubmatch(string(buf[:n]))
	if m == nil {
		t.Fatalf("not RFC 5424: %q", buf[:n])
	}
	rec := decodeLine(t, []byte(m[6]+"\n"))
	sni := rec["tls"].(map[string]any)["client"].(map[string]any)["server_name"].(string)
	if len(sni) != 128 {
		t.Errorf("long SNI not cut to 128 for the datagram: %d bytes", len(sni))
	}
}

// TestSyslogCollectorDownAtStart: a collector that is not there is not an
// error; events are dropped and counted, and when it comes up they flow,
// led by a report of how many were lost.
func TestSyslogCollectorDownAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	l, err := events.New(events.Config{Outputs: []events.OutputConfig{{Format: events.FormatJSON, Output: "syslog+tcp://" + addr}}})
	if err != nil {
		t.Fatalf("collector down at start: %v", err)
	}
	defer l.Close()
	for range 5 {
		l.Emit(&events.Event{Action: events.ActionDeny})
	}
	waitUntil(t, "5 drops", func() bool { return l.Stats()[0].Dropped == 5 })

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s (another process took the port meanwhile?): %v", addr, err)
	}
	defer ln.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Connected: the next event goes through, and the report after it.
	waitUntil(t, "an event written", func() bool {
		l.Emit(&events.Event{Action: events.ActionSplice, Reason: "back"})
		return l.Stats()[0].Written > 0
	})
	// Every "back" event the loop above emitted before the first write is written ahead of
	// the report, so read until the report comes (the deadline bounds a writer that never
	// sends it).
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	var sawReport bool
	for i := 0; i < 100_000 && !sawReport; i++ {
		msg, err := readOctetCounted(r)
		if err != nil {
			t.Fatal(err)
		}
		sawReport = strings.Contains(msg, `"action":"dropped"`)
	}
	if !sawReport {
		t.Fatal("no report of the dropped events")
	}
}

func TestFileRotationAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.json")
	l, err := events.New(events.Config{Outputs: []events.OutputConfig{
		{Output: "file:" + path, Rotate: &events.Rotate{MaxSizeMB: 1, MaxBackups: 2}}}})
	if err != nil {
		t.Fatal(err)
	}
	// SIGHUP with a rotating output: rotate now.
	l.Emit(&events.Event{Action: events.ActionDeny, Reason: "before"})
	waitUntil(t, "first write", func() bool { return l.Stats()[0].Written == 1 })
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Emit(&events.Event{Action: events.ActionDeny, Reason: "after"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "events*.json"))
	if len(files) != 2 {
		t.Fatalf("files %v, want the current and one rotated", files)
	}
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(cur), `"reason":"after"`) || strings.Contains(string(cur), "before") {
		t.Errorf("current file %q", cur)
	}
}

func TestFileReopenAfterMove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.json")
	l, err := events.New(events.Config{Output: "file:" + path})
	if err != nil {
		t.Fatal(err)
	}
	l.Emit(&events.Event{Action: events.ActionDeny, Reason: "old"})
	waitUntil(t, "first write", func() bool { return l.Stats()[0].Written == 1 })
	if err := os.Rename(path, path+".1"); err != nil { // what logrotate does
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Emit(&events.Event{Action: events.ActionDeny, Reason: "new"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), `"old"`) || !strings.Contains(string(cur), `"new"`) || strings.Contains(string(cur), `"old"`) {
		t.Errorf("rotated %q, current %q", old, cur)
	}
}
