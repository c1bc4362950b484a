package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readTimerSlack is the timer slack of a process's main thread, in nanoseconds.
func readTimerSlack(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "timerslack_ns"))
	if err != nil {
		t.Fatalf("reading the timer slack: %v", err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("timerslack_ns %q: %v", b, err)
	}
	return v
}

// serve runs with 4 ms of timer slack (it execs itself to give it to every thread) and the
// same PID, so supervisors that track the PID see one process; MDMPROXY_TIMER_SLACK=0 leaves
// the slack it was started with.
func TestServeRunsWithTimerSlack(t *testing.T) {
	p := StartProxy(t, Config{Rules: []Rule{{Name: "r", Domains: []string{"a.example"}, Ports: []int{443}}}})
	if got := readTimerSlack(t, p.cmd.Process.Pid); got != 4_000_000 {
		t.Fatalf("timer slack %d ns, want 4000000", got)
	}

	own := readTimerSlack(t, os.Getpid())
	q := &Proxy{Dir: t.TempDir()}
	q.ConfigPath, q.EventsPath = filepath.Join(q.Dir, "config.yaml"), filepath.Join(q.Dir, "events.json")
	q.env = []string{"MDMPROXY_TIMER_SLACK=0"}
	q.WriteConfig(t, Config{Rules: []Rule{{Name: "r", Domains: []string{"a.example"}, Ports: []int{443}}}})
	q.start(t, "serve", "--config", q.ConfigPath)
	if got := readTimerSlack(t, q.cmd.Process.Pid); got != own {
		t.Fatalf("with MDMPROXY_TIMER_SLACK=0 the slack is %d ns, want the parent's %d", got, own)
	}
}
