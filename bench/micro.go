package bench

import (
	"bufio"
	"context"
	"os/exec"
	"strconv"
	"strings"
)

// MicroPackages are the packages whose Go benchmarks the report includes.
var MicroPackages = []string{"./allowlist/", "./config/", "./proxy/clienthello/", "./events/", "./internal/status/"}

// MicroBench is one line of `go test -bench` output.
type MicroBench struct {
	Pkg, Name string
	Iter      int64
	Metrics   map[string]float64 // unit -> value: ns/op, B/op, allocs/op, MB/s, ...
	Units     []string           // in the order printed
}

// MicroResult is the parsed output of the Go benchmarks.
type MicroResult struct {
	Command string
	CPU     string // as Go reports it
	Benches []MicroBench
	Err     error
	Output  string // the raw output, kept when the run failed
}

// RunMicro runs the packages' Go benchmarks in repo.
func RunMicro(ctx context.Context, goBin, repo string) *MicroResult {
	args := append([]string{"test", "-run=^$", "-bench=.", "-benchmem"}, MicroPackages...)
	r := &MicroResult{Command: "go " + strings.Join(quoteArgs(args), " ")}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	r.Err = err
	if err != nil {
		r.Output = string(out)
	}
	ParseMicro(string(out), r)
	return r
}

func quoteArgs(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "^$") {
			a = "'" + a + "'"
		}
		q[i] = a
	}
	return q
}

// ParseMicro adds the benchmark lines of out to r.
func ParseMicro(out string, r *MicroResult) {
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(v)
			continue
		}
		if v, ok := strings.CutPrefix(line, "cpu: "); ok {
			r.CPU = strings.TrimSpace(v)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		iter, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := MicroBench{Pkg: pkg, Name: trimProcs(f[0]), Iter: iter, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			b.Metrics[f[i+1]] = v
			b.Units = append(b.Units, f[i+1])
		}
		r.Benches = append(r.Benches, b)
	}
}

// trimProcs drops the -GOMAXPROCS suffix of a benchmark name.
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}
