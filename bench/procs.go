package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process the suite started. Its output goes to a log file in the work
// directory; it is killed if the runner dies (PDEATHSIG) and stopped by Stop otherwise.
type Proc struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

var procs struct {
	sync.Mutex
	live map[*Proc]struct{}
}

// StartProc starts argv with stdout and stderr to logPath.
func StartProc(name, logPath string, env []string, argv ...string) (*Proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	logf.Close()
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	procs.Lock()
	if procs.live == nil {
		procs.live = map[*Proc]struct{}{}
	}
	procs.live[p] = struct{}{}
	procs.Unlock()
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Tail is the end of the process's log, for error messages.
func (p *Proc) Tail() string {
	b, _ := os.ReadFile(p.LogPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop sends SIGTERM, waits up to grace, then SIGKILL.
func (p *Proc) Stop(grace time.Duration) {
	if !p.Exited() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	procs.Lock()
	delete(procs.live, p)
	procs.Unlock()
}

// StopAll stops every process still running (on an interrupt or a fatal error).
func StopAll() {
	procs.Lock()
	var all []*Proc
	for p := range procs.live {
		all = append(all, p)
	}
	procs.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop(3 * time.Second) }()
	}
	wg.Wait()
}

// ChildEnv is the environment of child processes: without MDMPROXY_* overrides (they would
// change the configuration under test) and proxy variables.
func ChildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MDMPROXY_") || strings.HasSuffix(strings.ToLower(k), "_proxy") || k == "GOMAXPROCS" || k == "GOGC" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Usage is what /proc says about a process.
type Usage struct {
	RSSKiB int64 // VmRSS
	FDs    int   // entries of /proc/PID/fd
}

// ReadUsage reads RSS and the descriptor count of pid.
func ReadUsage(pid int) (Usage, error) {
	var u Usage
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			u.RSSKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	f.Close()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return u, err
	}
	u.FDs = len(ents)
	return u, nil
}

// ReadCPU is the CPU time pid's threads have used: the sum of the first field of
// /proc/PID/task/*/schedstat (nanoseconds on the CPU). Threads that exited are not counted,
// which is fine for the proxies measured: their threads live as long as they do.
func ReadCPU(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var total int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread just ended
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			v, _ := strconv.ParseInt(f[0], 10, 64)
			total += v
		}
	}
	return time.Duration(total), nil
}

// userHZ is the unit of /proc/PID/stat's times: USER_HZ, 100 on every Linux architecture's
// user-space ABI.
const userHZ = 100

// ReadUserSys is the CPU time pid has spent in user space and in the kernel, from
// /proc/PID/stat (utime and stime, which include threads that ended), at 10 ms resolution.
func ReadUserSys(pid int) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseStatTimes(string(b))
}

// parseStatTimes reads utime and stime (fields 14 and 15) from a /proc/PID/stat line.
func parseStatTimes(stat string) (user, sys time.Duration, err error) {
	// The command name (field 2) may hold spaces and parentheses: the fields that follow
	// start after its last ')'.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, errors.New("stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("stat: %d fields after the command name", len(f))
	}
	// f[0] is field 3 (state): utime is f[11], stime f[12].
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("stat: %w", err)
	}
	tick := time.Second / userHZ
	return time.Duration(ut) * tick, time.Duration(st) * tick, nil
}

// freePort asks the kernel for a free loopback port (for servers that cannot report the port
// they bound).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitListening polls addr until it accepts a connection.
func waitListening(ctx context.Context, p *Proc, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited before listening on %s:\n%s", p.Name, addr, p.Tail())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not listening on %s: %w\n%s", p.Name, addr, ctx.Err(), p.Tail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Server is a started proxy and how to reach it.
type Server struct {
	Proc      *Proc
	Addr      string // CONNECT proxies: the proxy port
	AdminAddr string // mdmproxy: the admin listener (/debug/pprof)
	// Forwarders: one frontend per kind.
	PlainAddr, TLSAddr string
}

// Stop stops the server.
func (s *Server) Stop() {
	if s != nil && s.Proc != nil {
		s.Proc.Stop(5 * time.Second)
	}
}

// MdmproxyConfig is the configuration the suite gives mdmproxy: one rule per origin, the
// origins' names mapped to loopback (and loopback allowed by the rules' cidrs, since it is in
// the default deny_cidrs), events as JSON to a file as in production.
func MdmproxyConfig(e *Endpoints, eventsPath string) string {
	httpRule, httpHost := httpOriginConfig(e)
	return fmt.Sprintf(`# Generated by bench: mdmproxy as the benchmark runs it.
listen: "127.0.0.1:0"
admin_listen: "127.0.0.1:0"
admin_pprof: true            # the suite profiles mdmproxy under load
clients: [127.0.0.0/8]
rules:
  - name: bench-tls          # a push-like rule: TLS required, SNI checked, no idle time-out
    domains: [%s]
    cidrs: [127.0.0.1/32]
    ports: [%d]
    persistent: true
    tls: required
  - name: bench-plain        # raw bytes spliced
    domains: [%s]
    cidrs: [127.0.0.1/32]
    ports: [%d]
    tls: optional
%sdefault_action: deny
hosts:
  - {name: %s, ip: 127.0.0.1}
  - {name: %s, ip: 127.0.0.1}
%stimeouts: {shutdown_grace: 1s}
log: {format: json, output: "file:%s", level: info}
`, TLSName, e.Port(TLS), PlainName, e.Port(Plain), httpRule, TLSName, PlainName, httpHost, eventsPath)
}

// httpOriginConfig is the configuration's rule and hosts entry for the plain-HTTP origin, when
// it runs.
func httpOriginConfig(e *Endpoints) (rule, host string) {
	if e.HTTPAddr == "" {
		return "", ""
	}
	_, port, _ := net.SplitHostPort(e.HTTPAddr)
	return fmt.Sprintf("  - name: bench-http         # plain-HTTP requests, forwarded by goproxy\n    domains: [%s]\n    cidrs: [127.0.0.1/32]\n    ports: [%s]\n", HTTPName, port),
		fmt.Sprintf("  - {name: %s, ip: 127.0.0.1}\n", HTTPName)
}

// StartMdmproxy writes the configuration into dir and starts `mdmproxy serve` on it; the
// listener's address comes from its "mdmproxy started" log line.
func StartMdmproxy(ctx context.Context, bin, dir string, e *Endpoints) (*Server, error) {
	cfg, err := writeConfig(dir, "mdmproxy.yaml", MdmproxyConfig(e, filepath.Join(dir, "mdmproxy-events.json")))
	if err != nil {
		return nil, err
	}
	return startMdmproxy(ctx, []string{bin}, cfg, filepath.Join(dir, "mdmproxy.log"))
}

// writeConfig writes an mdmproxy configuration into a directory of its own under dir, as in
// a deployment (/etc/mdmproxy): mdmproxy watches the configuration's directory, and the logs
// and events the suite writes next to it would wake that watch on every write.
func writeConfig(dir, name, text string) (string, error) {
	cdir := filepath.Join(dir, "mdmproxy-conf")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(cdir, name)
	return path, os.WriteFile(path, []byte(text), 0o644)
}

// startMdmproxy starts `mdmproxy serve --config cfg` with its output to logPath; bin is the
// binary, optionally after a command that runs it (ip netns exec NS).
func startMdmproxy(ctx context.Context, bin []string, cfg, logPath string) (*Server, error) {
	p, err := StartProc("mdmproxy", logPath, ChildEnv(), append(slices.Clone(bin), "serve", "--config", cfg)...)
	if err != nil {
		return nil, err
	}
	for {
		if addr, admin := startedAddr(p.LogPath); addr != "" {
			return &Server{Proc: p, Addr: addr, AdminAddr: admin}, nil
		}
		if p.Exited() {
			return nil, fmt.Errorf("mdmproxy exited at start:\n%s", p.Tail())
		}
		select {
		case <-ctx.Done():
			p.Stop(time.Second)
			return nil, fmt.Errorf("mdmproxy did not start: %w\n%s", ctx.Err(), p.Tail())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// startedAddr reads the proxy and admin addresses from mdmproxy's "mdmproxy started" line.
func startedAddr(logPath string) (addr, admin string) {
	b, _ := os.ReadFile(logPath)
	for _, line := range strings.Split(string(b), "\n") {
		var l struct {
			Message     string `json:"message"`
			Listen      string `json:"listen"`
			AdminListen string `json:"admin_listen"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Message == "mdmproxy started" {
			return l.Listen, l.AdminListen
		}
	}
	return "", ""
}

// SquidConfig is a minimal squid.conf for peek-and-splice: peek at step 1 to read the
// ClientHello's SNI, splice when it names an origin, terminate otherwise; non-TLS bytes (the
// plain origin) are tunnelled, the counterpart of mdmproxy's tls: optional. No cache, access
// log to a file, names from a hosts file.
func SquidConfig(e *Endpoints, dir string, port, maxFDs int) string {
	return fmt.Sprintf(`# Generated by bench: Squid with ssl-bump peek-and-splice.
http_port 127.0.0.1:%d ssl-bump tls-cert=%s tls-key=%s generate-host-certificates=off
acl bench_clients src 127.0.0.0/8
acl bench_ports port %s
acl step1 at_step SslBump1
acl bench_sni ssl::server_name %s %s
# Not "CONNECT" only: the request Squid makes up to tunnel non-TLS bytes has no method.
http_access allow bench_clients bench_ports
http_access deny all
ssl_bump peek step1
ssl_bump splice bench_sni
ssl_bump terminate all
on_unsupported_protocol tunnel all
hosts_file %s
cache deny all
cache_mem 0 MB
access_log stdio:%s
cache_log %s
cache_store_log none
pid_filename %s
coredump_dir %s
max_filedescriptors %d
shutdown_lifetime 1 seconds
pinger_enable off
`, port, e.PKI.CAPath, e.PKI.CAKeyPath, strings.Join(originPorts(e), " "), TLSName, PlainName,
		filepath.Join(dir, "hosts"), filepath.Join(dir, "squid-access.log"), filepath.Join(dir, "squid-cache.log"),
		filepath.Join(dir, "squid.pid"), dir, maxFDs)
}

// originPorts are the origins' ports, the plain-HTTP origin's when it runs.
func originPorts(e *Endpoints) []string {
	ps := []string{strconv.Itoa(e.Port(TLS)), strconv.Itoa(e.Port(Plain))}
	if e.HTTPAddr != "" {
		_, p, _ := net.SplitHostPort(e.HTTPAddr)
		ps = append(ps, p)
	}
	return ps
}

// StartSquid starts `squid -N` (no daemon, no SMP kids: one process holds every tunnel) with a
// generated configuration in dir.
func StartSquid(ctx context.Context, bin, dir string, e *Endpoints, maxFDs int) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte("127.0.0.1 "+TLSName+" "+PlainName+" "+HTTPName+"\n"), 0o644); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(cfg, []byte(SquidConfig(e, dir, port, maxFDs)), 0o644); err != nil {
		return nil, err
	}
	// Squid drops to its own user when started as root; its logs are written as that user.
	os.Chmod(dir, 0o777)
	for _, f := range []string{"squid-access.log", "squid-cache.log"} {
		os.Remove(filepath.Join(dir, f))
	}
	p, err := StartProc("squid", filepath.Join(dir, "squid.out"), ChildEnv(), bin, "-N", "-f", cfg)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitListening(ctx, p, addr); err != nil {
		p.Stop(time.Second)
		b, _ := os.ReadFile(filepath.Join(dir, "squid-cache.log"))
		return nil, fmt.Errorf("%w\ncache.log:\n%s", err, tail(string(b), 2000))
	}
	return &Server{Proc: p, Addr: addr}, nil
}

// haproxyPipes bounds HAProxy's splice pipes (two descriptors each), which it counts against
// its descriptor budget (by default maxconn/4 of them).
const haproxyPipes = 256

// HAProxyMaxConn is the most connections HAProxy can take under a descriptor limit: two
// descriptors per connection, its pipes, and some slack.
func HAProxyMaxConn(noFile int) int { return (noFile - 2*haproxyPipes - 300) / 2 }

// HAProxyConfig forwards one port to each origin, bytes only (mode tcp), always splicing
// (splice-auto spliced less and cost more CPU per GB): the reference for forwarding alone,
// since it reads no CONNECT and no ClientHello.
func HAProxyConfig(e *Endpoints, plainPort, tlsPort, maxconn int) string {
	return fmt.Sprintf(`# Generated by bench: HAProxy as a bare TCP forwarder.
global
    maxconn %d
    maxpipes %d
defaults
    mode tcp
    option splice-request
    option splice-response
    timeout connect 10s
    timeout client 1h
    timeout server 1h
frontend plain
    bind 127.0.0.1:%d
    default_backend plain
backend plain
    server origin %s
frontend tls
    bind 127.0.0.1:%d
    default_backend tls
backend tls
    server origin %s
`, maxconn, haproxyPipes, plainPort, e.PlainAddr, tlsPort, e.TLSAddr)
}

// StartHAProxy starts `haproxy -db` (foreground, one process) with a generated configuration
// that fits in noFile descriptors.
func StartHAProxy(ctx context.Context, bin, dir string, e *Endpoints, noFile int) (*Server, error) {
	maxconn := HAProxyMaxConn(noFile)
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	tp, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(HAProxyConfig(e, pp, tp, maxconn)), 0o644); err != nil {
		return nil, err
	}
	p, err := StartProc("haproxy", filepath.Join(dir, "haproxy.log"), ChildEnv(), bin, "-db", "-f", cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{Proc: p, PlainAddr: fmt.Sprintf("127.0.0.1:%d", pp), TLSAddr: fmt.Sprintf("127.0.0.1:%d", tp)}
	for _, a := range []string{s.PlainAddr, s.TLSAddr} {
		if err := waitListening(ctx, p, a); err != nil {
			p.Stop(time.Second)
			return nil, err
		}
	}
	return s, nil
}

// StartOrigin re-executes the runner (self) as `self origin CERT KEY` and reads the two
// addresses it prints. The origin is its own process so that its descriptors and CPU are not
// the client's.
func StartOrigin(ctx context.Context, self, dir string, pki *PKI) (*Proc, *Endpoints, error) {
	p, err := StartProc("origin", filepath.Join(dir, "origin.log"), ChildEnv(), self, "origin", pki.CertPath, pki.KeyPath)
	if err != nil {
		return nil, nil, err
	}
	a, err := startLines(ctx, p, "plain ", "tls ")
	if err != nil {
		return nil, nil, err
	}
	return p, &Endpoints{PlainAddr: a[0], TLSAddr: a[1], PKI: pki}, nil
}

// startLines waits until p's log has a line starting with each prefix and returns the rest of
// each; it stops p if p exits first or ctx ends.
func startLines(ctx context.Context, p *Proc, prefixes ...string) ([]string, error) {
	for {
		b, _ := os.ReadFile(p.LogPath)
		found := make([]string, len(prefixes))
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			for i, pre := range prefixes {
				if v, ok := strings.CutPrefix(l, pre); ok && found[i] == "" {
					found[i] = v
					n++
				}
			}
		}
		if n == len(prefixes) {
			return found, nil
		}
		if p.Exited() {
			return nil, fmt.Errorf("%s exited at start:\n%s", p.Name, p.Tail())
		}
		select {
		case <-ctx.Done():
			p.Stop(time.Second)
			return nil, fmt.Errorf("%s did not start", p.Name)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
