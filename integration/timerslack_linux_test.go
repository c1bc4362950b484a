package integration

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
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
// same PID, so supervisors that track the PID see one process. MDMPROXY_TIMER_SLACK sets the
// slack exactly, smaller than the inherited one too; 0 leaves the slack it was started with;
// without it a larger inherited slack (systemd's TimerSlackNSec=) is kept; a bad value is
// reported and the default applies.
func TestServeRunsWithTimerSlack(t *testing.T) {
	p := StartProxy(t, Config{Rules: []Rule{{Name: "r", Domains: []string{"a.example"}, Ports: []int{443}}}})
	if got := readTimerSlack(t, p.cmd.Process.Pid); got != 4_000_000 {
		t.Fatalf("timer slack %d ns, want 4000000", got)
	}

	const inherited = 10_000_000
	for _, c := range []struct {
		env  string
		want int64
		warn bool
	}{
		{"MDMPROXY_TIMER_SLACK=0", inherited, false},
		{"MDMPROXY_TIMER_SLACK=1ms", 1_000_000, false},
		{"MDMPROXY_TIMER_SLACK=20ms", 20_000_000, false},
		{"", inherited, false}, // more than the default: kept
		{"MDMPROXY_TIMER_SLACK=4000000", inherited, true},
		{"MDMPROXY_TIMER_SLACK=-1ms", inherited, true},
	} {
		q := startWithSlack(t, c.env, inherited)
		if got := readTimerSlack(t, q.cmd.Process.Pid); got != c.want {
			t.Errorf("started with %d ns and %q: slack %d ns, want %d", int64(inherited), c.env, got, c.want)
		}
		warned := strings.Contains(q.Stderr(), "MDMPROXY_TIMER_SLACK=")
		if warned != c.warn {
			t.Errorf("%q: reported on stderr %v, want %v (stderr %q)", c.env, warned, c.warn, q.Stderr())
		}
		if n := strings.Count(q.Stderr(), "MDMPROXY_TIMER_SLACK="); n > 1 {
			t.Errorf("%q: reported %d times, want once", c.env, n)
		}
		q.Signal(t, syscall.SIGTERM)
		q.WaitExit(t)
	}
}

// startWithSlack starts `mdmproxy serve` with env (if not empty) from a thread whose timer
// slack is inherited (ns), and waits until it serves.
func startWithSlack(t *testing.T, env string, inherited int64) *Proxy {
	t.Helper()
	q := &Proxy{Dir: t.TempDir()}
	q.ConfigPath, q.EventsPath = filepath.Join(q.Dir, "config.yaml"), filepath.Join(q.Dir, "events.json")
	if env != "" {
		q.env = []string{env}
	}
	q.WriteConfig(t, Config{Rules: []Rule{{Name: "r", Domains: []string{"a.example"}, Ports: []int{443}}}})
	// The child inherits the slack of the thread that forks it: this one, locked, for the
	// length of the start.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(inherited), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(own), 0, 0, 0)
	q.start(t, "serve", "--config", q.ConfigPath)
	return q
}
