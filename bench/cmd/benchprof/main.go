// Command benchprof profiles mdmproxy's data path under the benchmark's load: it runs the proxy
// package in-process (the same Server, settings and event logger `mdmproxy serve` builds from
// the benchmark's configuration), drives it from a separate load process, and writes pprof
// profiles. It is a tool for finding where the time or the memory goes, not part of `make bench`.
//
//	benchprof -mode setup  [-duration 10s] [-concurrency 16]   CPU profile of tunnel set-up
//	benchprof -mode bulk   [-kind plain|tls] [-mib 4096]        CPU profile of bulk transfer
//	benchprof -mode idle   [-n 8000]                            heap profile with n idle tunnels
//
// Profiles go to -out (default bench-prof/): cpu.prof, allocs.prof, heap.prof, goroutine.txt; read them with
// `go tool pprof -top bench-prof/cpu.prof`.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/mdmproxy/mdmproxy/bench"
	"github.com/mdmproxy/mdmproxy/config"
	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/internal/app"
	"github.com/mdmproxy/mdmproxy/proxy"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "origin":
			os.Exit(bench.RunOrigin(os.Args[2:]))
		case "load":
			os.Exit(runLoad(os.Args[2:]))
		}
	}
	mode := flag.String("mode", "setup", "setup | bulk | idle")
	kind := flag.String("kind", "tls", "bulk: plain | tls")
	dur := flag.Duration("duration", 10*time.Second, "setup: how long")
	conc := flag.Int("concurrency", 16, "setup: concurrent clients")
	mib := flag.Int("mib", 4096, "bulk: MiB through one tunnel")
	n := flag.Int("n", 8000, "idle: tunnels")
	pingGap := flag.Duration("ping-gap", 5*time.Second, "idle: pause before each round of -pings (mdmproxy parks a pump after 2 s of silence)")
	pings := flag.Int("pings", 0, "idle: rounds of a round trip on every tunnel after the heap profile, each followed by a GC and a reading of the live heap")
	out := flag.String("out", "bench-prof", "directory for the profiles")
	flag.Parse()
	if err := run(*mode, *kind, *dur, *conc, *mib, *n, *pings, *pingGap, *out); err != nil {
		fmt.Fprintln(os.Stderr, "benchprof:", err)
		bench.StopAll()
		os.Exit(1)
	}
	bench.StopAll()
}

func run(mode, kind string, dur time.Duration, conc, mib, n, pings int, pingGap time.Duration, out string) error {
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	rl.Cur = rl.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "mdmproxy-benchprof-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	self, _ := os.Executable()
	pki, err := bench.NewPKI(work)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	origin, ep, err := bench.StartOrigin(ctx, self, work, pki)
	cancel()
	if err != nil {
		return err
	}
	defer origin.Stop(time.Second)

	// The proxy, built as cmd/mdmproxy builds it from the same configuration file.
	cfgPath := filepath.Join(work, "mdmproxy.yaml")
	os.WriteFile(cfgPath, []byte(bench.MdmproxyConfig(ep, filepath.Join(work, "events.json"))), 0o644)
	cfg, err := config.Load(config.LoadOptions{Path: cfgPath, Env: []string{}})
	if err != nil {
		return err
	}
	set, err := app.Settings(cfg)
	if err != nil {
		return err
	}
	ec := app.Events(cfg)
	ec.Observer = "benchprof"
	evlog, err := events.New(ec)
	if err != nil {
		return err
	}
	defer evlog.Close()
	srv := &proxy.Server{Events: evlog}
	srv.Update(set)
	ln, err := proxy.Listen(context.Background(), "tcp", "127.0.0.1:0") // as serve listens: keepalive set once, on the listener
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		srv.Shutdown(ctx)
		cancel()
	}()

	args := []string{"load", "-proxy", ln.Addr().String(), "-plain", ep.PlainAddr, "-tls", ep.TLSAddr, "-ca", pki.CAPath,
		"-mode", mode, "-kind", kind, "-duration", dur.String(), "-concurrency", fmt.Sprint(conc), "-mib", fmt.Sprint(mib), "-n", fmt.Sprint(n)}
	load := exec.Command(self, args...)
	load.Stderr = os.Stderr
	load.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, _ := load.StdinPipe()
	stdout, _ := load.StdoutPipe()
	if err := load.Start(); err != nil {
		return err
	}
	lines := bufio.NewScanner(stdout)

	switch mode {
	case "setup", "bulk":
		// Warm up for a second, then profile the rest.
		time.Sleep(time.Second)
		f, err := os.Create(filepath.Join(out, "cpu.prof"))
		if err != nil {
			return err
		}
		var ru0 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		var ms0 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		conns0 := srv.Metrics().Connections.Load()
		t0 := time.Now()
		pprof.StartCPUProfile(f)
		for lines.Scan() {
			fmt.Println("load:", lines.Text())
		}
		pprof.StopCPUProfile()
		f.Close()
		var ms1 runtime.MemStats
		runtime.ReadMemStats(&ms1)
		if n := srv.Metrics().Connections.Load() - conns0; n > 0 {
			fmt.Printf("proxy: %.1f allocations and %.0f bytes allocated per connection (%d connections, exact: runtime.MemStats)\n",
				float64(ms1.Mallocs-ms0.Mallocs)/float64(n), float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(n), n)
		}
		runtime.GC() // the allocation profile is as of the last collection
		if af, err := os.Create(filepath.Join(out, "allocs.prof")); err == nil {
			pprof.Lookup("allocs").WriteTo(af, 0) // every allocation since the start: read with -sample_index=alloc_space
			af.Close()
		}
		var ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime) + syscall.TimevalToNsec(ru1.Stime) -
			syscall.TimevalToNsec(ru0.Utime) - syscall.TimevalToNsec(ru0.Stime))
		m := srv.Metrics()
		fmt.Printf("proxy: %s CPU over %s (user+sys, this process: proxy + event writer); %d connections, %d spliced\n",
			cpu.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), m.Connections.Load(), m.Spliced.Load())
		load.Wait()
	case "idle":
		before := usage()
		for lines.Scan() {
			l := lines.Text()
			fmt.Println("load:", l)
			if strings.HasPrefix(l, "opened") {
				break
			}
		}
		time.Sleep(2 * time.Second)
		after := usage()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("proxy: %d tunnels open, %d goroutines\n", srv.OpenTunnels(), runtime.NumGoroutine())
		fmt.Printf("RSS %d -> %d KiB (%.2f KiB per tunnel), descriptors %d -> %d\n", before.RSSKiB, after.RSSKiB,
			float64(after.RSSKiB-before.RSSKiB)/float64(n), before.FDs, after.FDs)
		fmt.Printf("after GC: HeapInuse %d KiB, HeapAlloc %d KiB, StackInuse %d KiB (%.2f KiB per tunnel), HeapObjects %d, Sys %d KiB\n",
			ms.HeapInuse>>10, ms.HeapAlloc>>10, ms.StackInuse>>10, float64(ms.StackInuse)/1024/float64(n), ms.HeapObjects, ms.Sys>>10)
		fmt.Printf("heap per tunnel after GC: %.2f KiB (HeapAlloc / tunnels)\n", float64(ms.HeapAlloc)/1024/float64(n))
		hf, _ := os.Create(filepath.Join(out, "heap.prof"))
		pprof.Lookup("heap").WriteTo(hf, 0)
		hf.Close()
		gf, _ := os.Create(filepath.Join(out, "goroutine.txt"))
		pprof.Lookup("goroutine").WriteTo(gf, 1)
		gf.Close()
		// Round trips on every tunnel: does each wake-up leave anything behind?
		for i := range pings {
			time.Sleep(pingGap)
			g0 := runtime.NumGoroutine()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			fmt.Fprintln(stdin, "ping")
			if !lines.Scan() {
				break
			}
			res := lines.Text()
			runtime.ReadMemStats(&m1) // before the GC: what the round allocated
			runtime.GC()
			var m2 runtime.MemStats
			runtime.ReadMemStats(&m2)
			u := usage()
			fmt.Printf("round %d (%d goroutines before): %s; allocated %.0f B and %.1f objects per tunnel round trip; live heap after GC %d KiB; RSS %d KiB; descriptors %d; goroutines %d\n",
				i+1, g0, res, float64(m1.TotalAlloc-m0.TotalAlloc)/float64(n), float64(m1.Mallocs-m0.Mallocs)/float64(n),
				m2.HeapAlloc>>10, u.RSSKiB, u.FDs, runtime.NumGoroutine())
		}
		stdin.Close()
		load.Wait()
	default:
		load.Process.Kill()
		return fmt.Errorf("unknown mode %q", mode)
	}
	fmt.Println("profiles in", out)
	return nil
}

func usage() bench.Usage {
	u, _ := bench.ReadUsage(os.Getpid())
	return u
}

// runLoad is the client process: it drives the proxy and prints results to stdout.
func runLoad(args []string) int {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	proxyAddr := fs.String("proxy", "", "")
	plain := fs.String("plain", "", "")
	tlsAddr := fs.String("tls", "", "")
	ca := fs.String("ca", "", "")
	mode := fs.String("mode", "setup", "")
	kind := fs.String("kind", "tls", "")
	dur := fs.Duration("duration", 10*time.Second, "")
	conc := fs.Int("concurrency", 16, "")
	mib := fs.Int("mib", 4096, "")
	n := fs.Int("n", 8000, "")
	fs.Parse(args)
	pki, err := bench.ClientPKI(*ca)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ep := &bench.Endpoints{PlainAddr: *plain, TLSAddr: *tlsAddr, PKI: pki}
	t := bench.ConnectProxy("mdmproxy", "mdmproxy", func() string { return *proxyAddr }, ep, func() int { return 0 })
	ctx := context.Background()
	switch *mode {
	case "setup":
		bench.Setup(ctx, t, ep, *conc, time.Second) // warm-up, not profiled
		r := bench.Setup(ctx, t, ep, *conc, *dur)
		fmt.Printf("%d tunnels in %s: %.0f/s, p50 %s, p99 %s, %d errors (%v)\n", r.Done, r.Elapsed.Round(time.Millisecond), r.Rate(), r.P50, r.P99, r.Errors, r.FirstErr)
	case "bulk":
		k := bench.TLS
		if *kind == "plain" {
			k = bench.Plain
		}
		bench.Bulk(ctx, t, ep, k, 1, 256<<20)
		time.Sleep(time.Second)
		r, err := bench.Bulk(ctx, t, ep, k, 1, int64(*mib)<<20)
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Printf("%s bulk: %.0f MB/s\n", k, r.MBps())
	case "idle":
		set, err := bench.OpenIdle(ctx, t, ep, *n, 32)
		if err != nil {
			fmt.Println("error:", err)
		}
		fmt.Printf("opened %d\n", len(set.Sessions))
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() { // "ping": a round trip on every tunnel; EOF: done
			alive, _ := set.CheckAlive(64)
			fmt.Printf("alive %d\n", alive)
		}
		alive, _ := set.CheckAlive(64)
		fmt.Printf("alive %d\n", alive)
		set.Close()
	}
	return 0
}
