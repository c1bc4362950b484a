package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// waitLimit bounds every poll for a condition (an event, a log line, an exit). It is a
// deadline against hanging, not an assertion about speed: it is generous on purpose.
const waitLimit = 20 * time.Second

// Config is the part of mdmproxy's configuration a test chooses. listen, admin_listen and the
// event log are filled in by the harness.
type Config struct {
	AdminPprof bool                `yaml:"admin_pprof,omitempty"`
	Clients    []string            `yaml:"clients,omitempty"`
	Roles      map[string][]string `yaml:"roles,omitempty"`
	Rules      []Rule              `yaml:"rules"`
	Hosts      []Host              `yaml:"hosts,omitempty"`
	Timeouts   map[string]string   `yaml:"timeouts,omitempty"`
	Limits     map[string]int      `yaml:"limits,omitempty"`
	// ProxyProtocol is proxy_protocol, e.g. {"trusted": ["127.0.0.1/32"]}.
	ProxyProtocol map[string][]string `yaml:"proxy_protocol,omitempty"`
	// Transparent is the transparent section; nil leaves it out.
	Transparent *Transparent `yaml:"transparent,omitempty"`
	// PAC is the pac section; nil leaves it out.
	PAC map[string]any `yaml:"pac,omitempty"`
	// Beyond is what happens to what no rule allows (c.DefaultAction, c.Mode, ...).
	Beyond `yaml:",inline"`
}

// Beyond is the keys for everything that is not MDM; zero values leave them out (DenyCIDRs:
// nil leaves the default, an empty list sets none).
type Beyond struct {
	DefaultAction        string    `yaml:"default_action,omitempty"`
	Upstream             string    `yaml:"upstream,omitempty"`
	UpstreamForwardedFor *bool     `yaml:"upstream_forwarded_for,omitempty"`
	Mode                 string    `yaml:"mode,omitempty"`
	DenyCIDRs            *[]string `yaml:"deny_cidrs,omitempty"`
}

// Transparent is the transparent section.
type Transparent struct {
	Listen []string `yaml:"listen"`
	Mode   string   `yaml:"mode,omitempty"`
}

// Rule is one entry of rules.
type Rule struct {
	Name       string   `yaml:"name"`
	Domains    []string `yaml:"domains,omitempty"`
	CIDRs      []string `yaml:"cidrs,omitempty"`
	Ports      []int    `yaml:"ports"`
	Persistent bool     `yaml:"persistent,omitempty"`
	TLS        string   `yaml:"tls,omitempty"`
	Clients    []string `yaml:"clients,omitempty"`
}

// Host is one entry of hosts.
type Host struct {
	Name string `yaml:"name"`
	IP   string `yaml:"ip"`
}

// loopbackHosts maps every name to 127.0.0.1.
func loopbackHosts(names ...string) []Host {
	hs := make([]Host, len(names))
	for i, n := range names {
		hs[i] = Host{Name: n, IP: "127.0.0.1"}
	}
	return hs
}

// fileConfig is the whole file the harness writes.
type fileConfig struct {
	Listen        string              `yaml:"listen"`
	AdminListen   string              `yaml:"admin_listen"`
	AdminPprof    bool                `yaml:"admin_pprof,omitempty"`
	Clients       []string            `yaml:"clients,omitempty"`
	Roles         map[string][]string `yaml:"roles,omitempty"`
	Rules         []Rule              `yaml:"rules"`
	Hosts         []Host              `yaml:"hosts,omitempty"`
	Timeouts      map[string]string   `yaml:"timeouts,omitempty"`
	Limits        map[string]int      `yaml:"limits,omitempty"`
	ProxyProtocol map[string][]string `yaml:"proxy_protocol,omitempty"`
	Log           map[string]string   `yaml:"log"`
	Transparent   *Transparent        `yaml:"transparent,omitempty"`
	PAC           map[string]any      `yaml:"pac,omitempty"`
	Beyond        `yaml:",inline"`
}

// Proxy is one mdmproxy process started by a test.
type Proxy struct {
	Addr       string // the proxy listener, host:port
	AdminAddr  string // the admin listener, host:port
	Dir        string // holds the configuration and the events file
	ConfigPath string
	EventsPath string

	// AdminClient reaches the admin listener; nil is http.DefaultClient.
	AdminClient *http.Client
	// Prefix runs the binary through another command (e.g. ip netns exec NS); empty runs it
	// directly.
	Prefix []string

	cmd      *exec.Cmd
	stdout   syncBuffer
	stderr   syncBuffer
	done     chan struct{} // closed when the process has exited
	exitCode int           // valid once done is closed
	env      []string      // added to the child's environment
}

// renderConfig is c as the YAML file the proxy reads, its events going to eventsPath.
func renderConfig(c Config, eventsPath string) []byte {
	fc := fileConfig{
		Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", AdminPprof: c.AdminPprof,
		Clients: c.Clients, Roles: c.Roles, Rules: c.Rules, Hosts: c.Hosts, Timeouts: c.Timeouts, Limits: c.Limits, ProxyProtocol: c.ProxyProtocol, Transparent: c.Transparent,
		PAC:    c.PAC,
		Beyond: c.Beyond,
		Log:    map[string]string{"format": "json", "output": "file:" + eventsPath, "level": "info"},
	}
	b, err := yaml.Marshal(fc)
	if err != nil {
		panic(err) // a test's Config always marshals
	}
	return b
}

// StartProxy writes c to a configuration file, starts `mdmproxy serve --config` on it and
// waits for the "mdmproxy started" line that names the bound addresses. The process is killed
// when the test ends, if it is still running.
func StartProxy(t *testing.T, c Config) *Proxy {
	t.Helper()
	return StartProxyIn(t, c)
}

// StartProxyIn is StartProxy with the binary run through prefix (e.g. ip netns exec NS).
func StartProxyIn(t *testing.T, c Config, prefix ...string) *Proxy {
	t.Helper()
	dir := t.TempDir()
	p := &Proxy{Dir: dir, ConfigPath: filepath.Join(dir, "config.yaml"), EventsPath: filepath.Join(dir, "events.json"), Prefix: prefix}
	p.WriteConfig(t, c)
	p.start(t, "serve", "--config", p.ConfigPath)
	return p
}

// WriteConfig replaces the configuration file atomically (write and rename, as editors and
// ConfigMaps do), so a reload never sees half a file.
func (p *Proxy) WriteConfig(t *testing.T, c Config) {
	t.Helper()
	p.WriteConfigRaw(t, renderConfig(c, p.EventsPath))
}

// WriteConfigRaw replaces the configuration file with exactly b.
func (p *Proxy) WriteConfigRaw(t *testing.T, b []byte) {
	t.Helper()
	tmp := p.ConfigPath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p.ConfigPath); err != nil {
		t.Fatal(err)
	}
}

// childEnv is the environment of the processes the tests start: without MDMPROXY_*
// overrides (they would change the configuration under test) and without proxy variables
// (curl would obey them).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		lk := strings.ToLower(k)
		if strings.HasPrefix(k, "MDMPROXY_") || strings.HasSuffix(lk, "_proxy") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (p *Proxy) start(t *testing.T, args ...string) {
	t.Helper()
	if len(p.Prefix) > 0 {
		p.cmd = exec.Command(p.Prefix[0], append(append(p.Prefix[1:len(p.Prefix):len(p.Prefix)], binPath), args...)...)
	} else {
		p.cmd = exec.Command(binPath, args...)
	}
	p.cmd.Env = append(childEnv(), p.env...)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.done = make(chan struct{})
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", binPath, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.exitCode = exitCodeOf(err)
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("mdmproxy stderr:\n%s", p.stderr.String())
		}
	})

	deadline := time.Now().Add(waitLimit)
	for {
		for _, l := range p.LogLines() {
			if l["message"] == "mdmproxy started" {
				p.Addr, _ = l["listen"].(string)
				p.AdminAddr, _ = l["admin_listen"].(string)
				if p.Addr == "" || p.AdminAddr == "" {
					t.Fatalf("the started line does not name both listeners: %v", l)
				}
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("mdmproxy exited with status %d before it started; stderr:\n%s", p.exitCode, p.stderr.String())
		case <-p.stderr.wrote():
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"mdmproxy started\" line within %v; stderr:\n%s", waitLimit, p.stderr.String())
		}
	}
}

func exitCodeOf(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// Signal sends sig to the process.
func (p *Proxy) Signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// WaitExit waits for the process to exit and returns its status.
func (p *Proxy) WaitExit(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.exitCode
	case <-time.After(waitLimit):
		t.Fatalf("mdmproxy still running %v after it was asked to stop; stderr:\n%s", waitLimit, p.stderr.String())
		return -1
	}
}

// Exited reports whether the process has exited.
func (p *Proxy) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stderr is everything the process wrote to stderr so far.
func (p *Proxy) Stderr() string { return p.stderr.String() }

// LogLines parses the operational log (JSON lines on stderr). Lines that are not JSON are
// returned as {"raw": line}.
func (p *Proxy) LogLines() []map[string]any {
	var out []map[string]any
	for _, line := range completeLines(p.stderr.Bytes()) {
		m := map[string]any{}
		if err := json.Unmarshal(line, &m); err != nil {
			m = map[string]any{"raw": string(line)}
		}
		out = append(out, m)
	}
	return out
}

// CountLog counts operational log lines for which match is true.
func (p *Proxy) CountLog(match func(map[string]any) bool) int {
	n := 0
	for _, l := range p.LogLines() {
		if match(l) {
			n++
		}
	}
	return n
}

// WaitLog polls the operational log until at least n lines match.
func (p *Proxy) WaitLog(t *testing.T, what string, n int, match func(map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for p.CountLog(match) < n {
		if p.Exited() && p.CountLog(match) < n { // stderr is complete once the process exited
			t.Fatalf("mdmproxy exited (status %d) without %d log line(s) %s; stderr:\n%s", p.exitCode, n, what, p.Stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %d log line(s) %s; stderr:\n%s", waitLimit, n, what, p.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Event is one event record, with the ECS fields the tests look at.
type Event struct {
	Timestamp string `json:"@timestamp"`
	Log       struct {
		Level string `json:"level"`
	} `json:"log"`
	Event struct {
		Kind     string `json:"kind"`
		Action   string `json:"action"`
		Outcome  string `json:"outcome"`
		Reason   string `json:"reason"`
		Duration *int64 `json:"duration"`
	} `json:"event"`
	Source struct {
		IP    string `json:"ip"`
		Port  int    `json:"port"`
		Bytes *int64 `json:"bytes"`
	} `json:"source"`
	Destination struct {
		Domain string `json:"domain"`
		IP     string `json:"ip"`
		Port   int    `json:"port"`
		Bytes  *int64 `json:"bytes"`
	} `json:"destination"`
	TLS struct {
		Client struct {
			ServerName string `json:"server_name"`
		} `json:"client"`
	} `json:"tls"`
	Rule struct {
		Name string `json:"name"`
	} `json:"rule"`
	URL struct {
		Original string `json:"original"`
	} `json:"url"`
	HTTP struct {
		Request struct {
			Method string `json:"method"`
		} `json:"request"`
		Response struct {
			StatusCode int `json:"status_code"`
		} `json:"response"`
	} `json:"http"`
	MDMProxy struct {
		Intercepted bool   `json:"intercepted"`
		Upstream    string `json:"upstream"`
		Enforce     struct {
			Action string `json:"action"`
			Reason string `json:"reason"`
		} `json:"enforce"`
	} `json:"mdmproxy"`

	Raw string `json:"-"`
}

// Events reads every complete event written so far. A complete line that is not valid JSON
// fails the test: the SIEM would reject it too.
func (p *Proxy) Events(t testing.TB) []Event {
	t.Helper()
	b, err := os.ReadFile(p.EventsPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("reading events: %v", err)
	}
	var evs []Event
	for _, line := range completeLines(b) {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("event line is not JSON (%v): %s", err, line)
		}
		e.Raw = string(line)
		evs = append(evs, e)
	}
	return evs
}

// Match selects events. Zero fields match anything.
type Match struct {
	Action  string
	Reason  string
	SrcPort int
	DstPort int
	Domain  string
	Rule    string
}

func (m Match) ok(e Event) bool {
	return (m.Action == "" || e.Event.Action == m.Action) &&
		(m.Reason == "" || e.Event.Reason == m.Reason) &&
		(m.SrcPort == 0 || e.Source.Port == m.SrcPort) &&
		(m.DstPort == 0 || e.Destination.Port == m.DstPort) &&
		(m.Domain == "" || e.Destination.Domain == m.Domain) &&
		(m.Rule == "" || e.Rule.Name == m.Rule)
}

func (m Match) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" && v != "0" {
			parts = append(parts, k+"="+v)
		}
	}
	add("action", m.Action)
	add("reason", m.Reason)
	add("source.port", fmt.Sprint(m.SrcPort))
	add("destination.port", fmt.Sprint(m.DstPort))
	add("destination.domain", m.Domain)
	add("rule.name", m.Rule)
	return "{" + strings.Join(parts, " ") + "}"
}

// FindEvents returns the events written so far that m selects.
func (p *Proxy) FindEvents(t testing.TB, m Match) []Event {
	t.Helper()
	var out []Event
	for _, e := range p.Events(t) {
		if m.ok(e) {
			out = append(out, e)
		}
	}
	return out
}

// WaitEvents polls the events file until at least n events match m, and returns them.
func (p *Proxy) WaitEvents(t testing.TB, n int, m Match) []Event {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		evs := p.FindEvents(t, m)
		if len(evs) >= n {
			return evs
		}
		// Once the process has exited the file is complete: no need to wait longer.
		if exited := p.Exited(); exited || time.Now().After(deadline) {
			if exited {
				if evs = p.FindEvents(t, m); len(evs) >= n {
					return evs
				}
			}
			all := p.Events(t)
			var dump strings.Builder
			for i, e := range all {
				if i >= 50 {
					fmt.Fprintf(&dump, "... and %d more\n", len(all)-i)
					break
				}
				dump.WriteString(e.Raw + "\n")
			}
			t.Fatalf("waited %v (or until the process exited: %v) for %d event(s) %v, found %d; events:\n%s", waitLimit, exited, n, m, len(evs), dump.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitEvent polls until an event matches m and returns the first that does.
func (p *Proxy) WaitEvent(t testing.TB, m Match) Event {
	t.Helper()
	return p.WaitEvents(t, 1, m)[0]
}

// completeLines splits b into lines, leaving out an unterminated last line (still being
// written).
func completeLines(b []byte) [][]byte {
	var out [][]byte
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return out
		}
		if line := bytes.TrimSpace(b[:i]); len(line) > 0 {
			out = append(out, line)
		}
		b = b[i+1:]
	}
}

// syncBuffer is a bytes.Buffer safe for one writer (a process's output) and many readers.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{} // gets a token after each write, so a reader need not poll
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.notify == nil {
		b.notify = make(chan struct{}, 1)
	}
	select {
	case b.notify <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

// wrote returns a channel that has a token when something was written since the last token was
// taken.
func (b *syncBuffer) wrote() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.notify == nil {
		b.notify = make(chan struct{}, 1)
	}
	return b.notify
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *syncBuffer) String() string { return string(b.Bytes()) }

// waitFor polls cond until it holds or waitLimit passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", waitLimit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitUntil polls cond for at most d and reports whether it came true; unlike waitFor, running
// out of time is not a failure.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
