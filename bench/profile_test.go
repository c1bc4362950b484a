package bench

import (
	"math"
	"os"
	"testing"
	"time"
)

func TestCategory(t *testing.T) {
	cases := map[string]string{
		"internal/runtime/syscall/linux.Syscall6":                  CatSyscalls,
		"syscall.RawSyscall6":                                      CatSyscalls,
		"runtime.futex":                                            CatSyscalls,
		"runtime.findRunnable":                                     CatRuntime,
		"internal/runtime/maps.(*Map).Delete":                      CatRuntime,
		"github.com/mdmproxy/mdmproxy/proxy.(*splicePump).run":     CatOwn,
		"internal/poll.(*FD).RawRead":                              CatLibs,
		"github.com/rs/zerolog/internal/json.Encoder.AppendString": CatLibs,
		"golang.org/x/sys/unix.Syscall6":                           CatSyscalls,
		"golang.org/x/sys/unix.EpollCtl":                           CatLibs,
	}
	for fn, want := range cases {
		if got := Category(fn); got != want {
			t.Errorf("%s: %q, want %q", fn, got, want)
		}
	}
}

func TestParsePprofTop(t *testing.T) {
	text := `File: mdmproxy
Type: cpu
Showing nodes accounting for 2s, 100% of 2s total
      flat  flat%   sum%        cum   cum%
     1.50s 75.00% 75.00%      1.50s 75.00%  internal/runtime/syscall/linux.Syscall6
     250ms 12.50% 87.50%      300ms 15.00%  runtime.findRunnable
     200ms 10.00% 97.50%      1.70s 85.00%  github.com/mdmproxy/mdmproxy/proxy.(*splicePump).readFirst (inline)
      50ms  2.50%   100%       50ms  2.50%  net.(*conn).Read
         0     0%   100%      1.80s 90.00%  runtime.goexit
`
	s, err := parsePprofTop(text, 2)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(s.Total-2) > 1e-9 {
		t.Errorf("total %v, want 2", s.Total)
	}
	want := map[string]float64{CatSyscalls: 75, CatRuntime: 12.5, CatOwn: 10, CatLibs: 2.5}
	for c, w := range want {
		if math.Abs(s.ByCategory[c]-w) > 1e-9 {
			t.Errorf("%s: %v%%, want %v%%", c, s.ByCategory[c], w)
		}
	}
	if len(s.Top) != 2 || s.Top[0].Name != "internal/runtime/syscall/linux.Syscall6" || s.Top[1].Name != "runtime.findRunnable" {
		t.Errorf("top: %+v", s.Top)
	}
	all, _ := parsePprofTop(text, 10)
	if len(all.Top) != 4 || all.Top[3].Name != "net.(*conn).Read" {
		t.Errorf("top 10 should hold the four functions with samples, not runtime.goexit: %+v", all.Top)
	}
	for _, bad := range []string{"", "no table here\n", "      flat  flat%   sum%        cum   cum%\n   1.5x 1% 1% 1s 1%  f\n",
		"      flat  flat%   sum%        cum   cum%\n         0     0%   100%      1.80s 90.00%  runtime.goexit\n"} {
		if _, err := parsePprofTop(bad, 3); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseStatTimes(t *testing.T) {
	// A command name with a space and a parenthesis; utime 250 and stime 75 ticks.
	line := "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 1000 200 18446744073709551615"
	u, s, err := parseStatTimes(line)
	if err != nil || u != 2500*time.Millisecond || s != 750*time.Millisecond {
		t.Errorf("got %v %v %v, want 2.5s 750ms", u, s, err)
	}
	for _, bad := range []string{"", "4242 (x) S 1 2", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 x 75"} {
		if _, _, err := parseStatTimes(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, _, err := ReadUserSys(os.Getpid()); err != nil {
		t.Errorf("own /proc/PID/stat: %v", err)
	}
}
