package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// FetchProfile takes a CPU profile of `seconds` from mdmproxy's admin listener
// (/debug/pprof/profile) and writes it to path.
func FetchProfile(ctx context.Context, adminAddr string, seconds int, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", adminAddr, seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: time.Duration(seconds+30) * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return fmt.Errorf("profile: %s: %s", resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile: %w", err)
	}
	return f.Close()
}

// Profile categories, in the order the report shows them.
const (
	CatSyscalls = "system calls: the kernel's socket, pipe and epoll work"
	CatRuntime  = "Go runtime: scheduler, timers, memory, GC"
	CatLibs     = "Go libraries: net, internal/poll, zerolog, cryptobyte, ..."
	CatOwn      = "mdmproxy's own code"
)

// Categories lists the categories in report order.
var Categories = []string{CatSyscalls, CatRuntime, CatLibs, CatOwn}

// Share is a part of a profile: a category or a function, with its samples.
type Share struct {
	Name    string
	Seconds float64
	Percent float64
}

// ProfileSummary is where a CPU profile's samples fall, by the function that was running.
type ProfileSummary struct {
	Total      float64            // seconds of samples
	ByCategory map[string]float64 // percent of Total
	Top        []Share            // the functions with the most samples of their own
}

// runtimeSyscalls are the Go runtime's own system-call wrappers: time in them is kernel time.
var runtimeSyscalls = map[string]bool{
	"runtime.futex": true, "runtime.usleep": true, "runtime.nanosleep": true, "runtime.osyield": true,
	"runtime.madvise": true, "runtime.mmap": true, "runtime.munmap": true, "runtime.write1": true,
	"runtime.read": true, "runtime.rtsigprocmask": true, "runtime.tgkill": true, "runtime.timer_settime": true,
	"runtime.clone": true, "runtime.sigaltstack": true, "runtime.getpid": true, "runtime.sched_getaffinity": true,
}

// Category is the category of the function fn, by its package. A Go CPU profile charges the
// time a thread spends in the kernel to the function that made the system call, so the
// system-call category is the proxy's kernel time.
func Category(fn string) string {
	switch {
	case strings.HasPrefix(fn, "syscall."), strings.HasPrefix(fn, "internal/runtime/syscall/"),
		strings.HasPrefix(fn, "golang.org/x/sys/unix.Syscall"), strings.HasPrefix(fn, "golang.org/x/sys/unix.RawSyscall"),
		runtimeSyscalls[fn]:
		return CatSyscalls
	case strings.HasPrefix(fn, "runtime."), strings.HasPrefix(fn, "internal/runtime/"):
		return CatRuntime
	case strings.HasPrefix(fn, "github.com/mdmproxy/mdmproxy/"):
		return CatOwn
	}
	return CatLibs
}

// SummarizeProfile reads a CPU profile with `go tool pprof -top` and sums it by category.
func SummarizeProfile(ctx context.Context, goBin, path string, top int) (ProfileSummary, error) {
	out, err := exec.CommandContext(ctx, goBin, "tool", "pprof", "-top", "-nodecount=100000",
		"-nodefraction=0", "-edgefraction=0", path).CombinedOutput()
	if err != nil {
		return ProfileSummary{}, fmt.Errorf("go tool pprof: %w: %s", err, tail(string(out), 500))
	}
	return parsePprofTop(string(out), top)
}

// parsePprofTop sums the flat column of `go tool pprof -top` output.
func parsePprofTop(text string, top int) (ProfileSummary, error) {
	s := ProfileSummary{ByCategory: map[string]float64{}}
	var fns []Share
	sc := bufio.NewScanner(strings.NewReader(text))
	header := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if !header {
			header = len(f) >= 5 && f[0] == "flat" && f[1] == "flat%"
			continue
		}
		if len(f) < 6 {
			continue
		}
		flat, err := parseSampleTime(f[0])
		if err != nil {
			return s, fmt.Errorf("pprof line %q: %w", sc.Text(), err)
		}
		name := strings.Join(f[5:], " ")
		name = strings.TrimSuffix(name, " (inline)")
		fns = append(fns, Share{Name: name, Seconds: flat})
		s.Total += flat
	}
	if !header {
		return s, fmt.Errorf("no pprof table in:\n%s", tail(text, 500))
	}
	if s.Total == 0 {
		return s, fmt.Errorf("the profile has no samples")
	}
	for i := range fns {
		fns[i].Percent = 100 * fns[i].Seconds / s.Total
		s.ByCategory[Category(fns[i].Name)] += fns[i].Percent
	}
	slices.SortStableFunc(fns, func(a, b Share) int {
		switch {
		case a.Seconds > b.Seconds:
			return -1
		case a.Seconds < b.Seconds:
			return 1
		}
		return 0
	})
	// Only functions with a few samples of their own: one sample is noise.
	for _, f := range fns[:min(top, len(fns))] {
		if f.Seconds >= minTopSeconds {
			s.Top = append(s.Top, f)
		}
	}
	return s, nil
}

// minTopSeconds is three samples at the profiler's 100 Hz.
const minTopSeconds = 0.03

// parseSampleTime reads pprof's "1.68s", "10ms", "250us" or "0".
func parseSampleTime(v string) (float64, error) {
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(strings.Replace(v, "µs", "us", 1))
	if err != nil {
		return 0, err
	}
	return d.Seconds(), nil
}
