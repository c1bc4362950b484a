//go:build linux

package main

import (
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
// instead of a wake-up of its own; measured against 1 ms, another 14 to 24 µs per tunnel, with
// no change in set-up latency (docs/benchmarks.md). Nothing in mdmproxy needs finer timers: its
// shortest are the 20 ms event pause and the 250 ms park delay, and its time-outs are seconds.
const defaultTimerSlack = 4 * time.Millisecond

// timerSlackEnv overrides the slack: a Go duration, "0" for the kernel's default.
const timerSlackEnv = "MDMPROXY_TIMER_SLACK"

// applyTimerSlack gives every thread of this process the timer slack, and reports whether it
// did. A thread inherits its creator's slack, but the runtime starts threads (sysmon first)
// before any of mdmproxy's code runs; the one way to reach them all without privileges is to
// set the slack on this thread and exec the same binary again, whose threads then all descend
// from a thread with the slack. A process started with the slack already (systemd's
// TimerSlackNSec=, or after that exec) carries straight on. It runs before anything is opened
// or started, since exec replaces the process.
func applyTimerSlack() {
	want := defaultTimerSlack
	if v, ok := os.LookupEnv(timerSlackEnv); ok {
		d, err := time.ParseDuration(v)
		if v == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 {
			return // serve reports nothing here: the variable is not a configuration key
		}
		want = d
	}
	if want == 0 {
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cur, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil || time.Duration(cur) >= want {
		return
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(want), 0, 0, 0); err != nil {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	// Exec only returns on failure; the process then runs on with the slack on this thread.
	_ = syscall.Exec(exe, os.Args, os.Environ())
}
