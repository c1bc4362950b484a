package bench

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Machine describes where the numbers come from.
type Machine struct {
	Date        time.Time
	NProc       int
	CPUModel    string
	MemTotal    string
	Kernel      string
	OS          string
	GoVersion   string
	NoFileSoft  uint64
	NoFileHard  uint64
	Mdmproxy    string
	Squid       string
	HAProxy     string
	Virtualized string
	// LoadStart and LoadEnd are /proc/loadavg's 1-minute figure before and after the run: on a
	// shared machine, other work competes with the benchmark.
	LoadStart, LoadEnd string
}

// LoadAvg is the 1-, 5- and 15-minute load averages.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// DescribeMachine reads /proc and asks the binaries for their versions.
func DescribeMachine(goBin, mdmBin, squidBin, haproxyBin string) Machine {
	m := Machine{Date: time.Now().UTC(), NProc: runtime.NumCPU(), LoadStart: LoadAvg()}
	m.CPUModel = firstField("/proc/cpuinfo", "model name")
	m.MemTotal = firstField("/proc/meminfo", "MemTotal")
	if kb, err := strconv.ParseInt(strings.TrimSuffix(m.MemTotal, " kB"), 10, 64); err == nil {
		m.MemTotal = strconv.FormatFloat(float64(kb)/(1<<20), 'f', 1, 64) + " GiB"
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.OS = strings.Trim(firstField("/etc/os-release", "PRETTY_NAME="), `"`)
	m.GoVersion = firstLine(goBin, "version")
	if m.GoVersion == "" {
		m.GoVersion = runtime.Version()
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		m.NoFileSoft, m.NoFileHard = rl.Cur, rl.Max
	}
	m.Mdmproxy = firstLine(mdmBin, "version")
	if squidBin != "" {
		m.Squid = firstLine(squidBin, "-v")
	}
	if haproxyBin != "" {
		m.HAProxy = firstLine(haproxyBin, "-v")
	}
	if strings.Contains(firstField("/proc/cpuinfo", "flags"), "hypervisor") {
		m.Virtualized = "yes (hypervisor flag)"
	}
	return m
}

// firstField returns the value of the first line of path starting with key ("key: value" or
// "key=value").
func firstField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			v = strings.TrimLeft(v, " \t")
			v = strings.TrimPrefix(v, ":")
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func firstLine(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
