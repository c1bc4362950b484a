package proxy

import (
	"testing"

	"golang.org/x/sys/unix"
)

// A panic in the parker's loop is reported and the loop goes on: every parked tunnel depends
// on it.
func TestParkerSurvivesPanic(t *testing.T) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])

	var panics []any
	restarted := 0
	pk := &parker{epfd: epfd, pumps: make(map[int32]*splicePump),
		onPanic: func(v any) { panics = append(panics, v) },
		restart: func(*splicePump) {
			if restarted++; restarted == 1 {
				panic("restart exploded")
			}
		}}
	p := &splicePump{}
	events := make([]unix.EpollEvent, 4)
	if _, err := unix.Write(sp[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		p.state.Store(pumpParked)
		if err := pk.arm(uintptr(sp[0]), p); err != nil {
			t.Fatal(err)
		}
		if !pk.wake(events) {
			t.Fatalf("round %d: the loop ended", round)
		}
		if restarted != round || len(panics) != 1 {
			t.Fatalf("round %d: %d restarts, panics reported %v", round, restarted, panics)
		}
	}
}
