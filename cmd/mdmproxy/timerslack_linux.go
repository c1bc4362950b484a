//go:build linux

package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Timer slack lets the kernel fire a thread's timers up to that much late, so that timers
// close together share one wake-up. Go's runtime monitor (sysmon) sleeps in 20 µs steps each
// time the process comes out of an idle spell, for at least 50 steps, and at the 50 µs default
// every one of those sleeps is a wake-up and a context switch: on a proxy that sets up tunnels
// in short flights, about 30 µs of CPU per tunnel (docs/benchmarks.md). 4 ms is one scheduler
// tick at the usual HZ=250: on a busy CPU a short runtime sleep then ends with the next tick
// instead of a wake-up of its own; measured against 1 ms, another 14 to 20 µs per tunnel
// (medians of three runs), with no change in set-up latency (docs/benchmarks.md). mdmproxy's
// own timers are 5 ms or longer (back-offs and polls), those on the tunnel path 20 ms or longer
// (the event pause; the park delay is 250 ms), and its time-outs are seconds.
const defaultTimerSlack = 4 * time.Millisecond

// timerSlackEnv sets the slack: a Go duration, exactly; "0" keeps the slack the process was
// started with. Without it the default applies, unless the process was started with more.
const timerSlackEnv = "MDMPROXY_TIMER_SLACK"

// applyTimerSlack gives every thread of this process the timer slack. A thread inherits its
// creator's slack, but the runtime starts threads (sysmon first) before any of mdmproxy's code
// runs; the one way to reach them all without privileges is to set the slack on this thread
// and exec the same binary again, whose threads then all descend from a thread with the slack.
// A process started with the slack already (after that exec, or systemd's TimerSlackNSec=)
// carries straight on. It runs before anything is opened or started, since exec replaces the
// process.
func applyTimerSlack() {
	want, exact, bad := timerSlack(os.LookupEnv(timerSlackEnv))
	if want != 0 {
		execWithSlack(want, exact)
	}
	// Only the process that carries on gets here (an exec starts it again), so a bad value is
	// reported once.
	if bad != "" {
		fmt.Fprintln(os.Stderr, "mdmproxy:", bad)
	}
}

// execWithSlack sets the slack on this thread and execs the binary again, unless the slack is
// already right (exact: equal to want; otherwise at least want). It returns only when it did
// not exec.
func execWithSlack(want time.Duration, exact bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cur, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil || time.Duration(cur) == want || (!exact && time.Duration(cur) > want) {
		return
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(want), 0, 0, 0); err != nil {
		return
	}
	// The kernel ignores the call for a real-time thread (chrt, CPUSchedulingPolicy=): exec
	// only when it took, or the next process would try again, for ever.
	if now, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0); err != nil || time.Duration(now) != want {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	// Exec only returns on failure; the process then runs on with the slack on this thread.
	_ = syscall.Exec(exe, os.Args, os.Environ())
}

// timerSlack reads MDMPROXY_TIMER_SLACK (v, set): the slack to apply (0: leave it alone),
// whether it is exact (set by the variable, so a slack smaller than the inherited one is applied
// too), and a complaint about a value that is not a duration, for which the default applies.
// The variable is not a configuration key, and logging is not set up yet: the complaint goes
// to stderr.
func timerSlack(v string, set bool) (want time.Duration, exact bool, bad string) {
	if !set {
		return defaultTimerSlack, false, ""
	}
	if v == "0" {
		return 0, true, ""
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return defaultTimerSlack, false, fmt.Sprintf("%s=%q is not a positive duration such as 1ms (0 keeps the slack mdmproxy was started with); using %v",
			timerSlackEnv, v, defaultTimerSlack)
	}
	return d, true, ""
}
