//go:build linux

// Package netns builds throw-away network topologies out of Linux network namespaces for
// tests and benchmarks that need real routing and netfilter (transparent interception):
//
//	top, err := netns.New("mdmp")             // namespaces are named mdmp-<pid>-<name>
//	defer top.Close()                          // deletes every namespace it made
//	gw, _ := top.Add("gw")
//	cl, _ := top.Add("client")
//	top.Link(cl, "c0", "192.0.2.2/24", gw, "g0", "192.0.2.1/24")
//	gw.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
//	cmd := gw.Command("mdmproxy", "serve")     // a process inside gw
//	gw.Do(func() error { ln, err = net.Listen("tcp", ":443"); return err })  // a socket inside gw
//
// It needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and the ip command (iproute2). Nothing is
// made outside the namespaces, except the resolv.conf a namespace may be given, under
// /etc/netns/<name>/ (which `ip netns exec` mounts over /etc/resolv.conf), removed by Close.
package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Topology is a set of namespaces made together and deleted together.
type Topology struct {
	prefix string
	mu     sync.Mutex
	made   []NS
}

// NS is one network namespace.
type NS struct{ Name string }

// New starts a topology whose namespaces are named prefix-<pid>-<name>, so that parallel runs
// do not collide. It checks that namespaces can be made at all, and says why not.
func New(prefix string) (*Topology, error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("netns: the ip command (iproute2) is not installed")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("netns: network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
	}
	removeStale(prefix)
	return &Topology{prefix: prefix + "-" + strconv.Itoa(os.Getpid())}, nil
}

// removeStale deletes namespaces an earlier run with the same prefix left behind when it was
// killed before its Close: those named prefix-<pid>-... whose process is gone.
func removeStale(prefix string) {
	entries, _ := os.ReadDir("/var/run/netns")
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix+"-")
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		n, err := strconv.Atoi(pid)
		if err != nil || n == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, os.ErrNotExist) {
			run("ip", "netns", "del", e.Name())
			os.RemoveAll(filepath.Join("/etc/netns", e.Name()))
		}
	}
}

// Add makes a namespace with its loopback up.
func (t *Topology) Add(name string) (NS, error) {
	ns := NS{Name: t.prefix + "-" + name}
	if err := run("ip", "netns", "add", ns.Name); err != nil {
		return NS{}, fmt.Errorf("netns: cannot create a network namespace: %w", err)
	}
	t.mu.Lock()
	t.made = append(t.made, ns)
	t.mu.Unlock()
	return ns, ns.Run("ip", "link", "set", "lo", "up")
}

// Link joins a and b with a veth pair named aIf in a and bIf in b, brings both ends up and
// gives each its addresses (CIDR notation; IPv6 addresses skip duplicate address detection so
// they are usable at once).
func (t *Topology) Link(a NS, aIf string, aAddrs []string, b NS, bIf string, bAddrs []string) error {
	if err := run("ip", "link", "add", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name); err != nil {
		return err
	}
	for _, side := range []struct {
		ns    NS
		ifc   string
		addrs []string
	}{{a, aIf, aAddrs}, {b, bIf, bAddrs}} {
		if err := side.ns.AddAddrs(side.ifc, side.addrs...); err != nil {
			return err
		}
		if err := side.ns.Run("ip", "link", "set", side.ifc, "up"); err != nil {
			return err
		}
	}
	return nil
}

// AddAddrs gives interface ifc the addresses (CIDR notation).
func (ns NS) AddAddrs(ifc string, addrs ...string) error {
	for _, a := range addrs {
		args := []string{"ip", "addr", "add", a, "dev", ifc}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		if err := ns.Run(args...); err != nil {
			return err
		}
	}
	return nil
}

// SetResolvConf gives the namespace's processes (those started with Command) their own
// /etc/resolv.conf naming servers.
func (ns NS) SetResolvConf(servers ...string) error {
	dir := filepath.Join("/etc/netns", ns.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(b.String()), 0o644)
}

// Close deletes every namespace of the topology (and their veth pairs with them) and the
// resolv.conf files, even if some deletions fail; it returns the failures.
func (t *Topology) Close() error {
	t.mu.Lock()
	made := t.made
	t.made = nil
	t.mu.Unlock()
	var errs []error
	for _, ns := range made {
		if err := run("ip", "netns", "del", ns.Name); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(filepath.Join("/etc/netns", ns.Name)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Command is a command that runs inside the namespace (ip netns exec).
func (ns NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command inside the namespace and returns its output in the error if it fails.
func (ns NS) Run(args ...string) error {
	return run("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

// Nft loads an nftables ruleset (nft -f syntax) into the namespace.
func (ns NS) Nft(ruleset string) error {
	cmd := ns.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft -f in %s: %v: %s", ns.Name, err, out)
	}
	return nil
}

// Do runs f on an OS thread moved into the namespace. Sockets f opens belong to the namespace
// for their whole life, whichever thread later uses them. The thread is thrown away afterwards
// (its goroutine exits still locked), so no other goroutine ever runs in the namespace.
func (ns NS) Do(f func() error) error {
	fd, err := unix.Open(filepath.Join("/var/run/netns", ns.Name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netns: opening %s: %w", ns.Name, err)
	}
	defer unix.Close(fd)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("netns: entering %s: %w", ns.Name, err)
			return
		}
		done <- f()
	}()
	return <-done
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Dialer returns a dial function whose sockets are made inside the namespace by workers
// goroutines, each locked to a thread moved there once; the dials themselves wait in Go's
// poller like any other. stop ends the workers, whose threads are then thrown away.
func (ns NS) Dialer(d *net.Dialer, workers int) (dial func(ctx context.Context, network, addr string) (net.Conn, error), stop func(), err error) {
	fd, err := unix.Open(filepath.Join("/var/run/netns", ns.Name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("netns: opening %s: %w", ns.Name, err)
	}
	defer unix.Close(fd)
	type result struct {
		c   net.Conn
		err error
	}
	type request struct {
		ctx           context.Context
		network, addr string
		reply         chan result
	}
	reqs := make(chan request)
	entered := make(chan error, workers)
	for range workers {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				entered <- fmt.Errorf("netns: entering %s: %w", ns.Name, err)
				return
			}
			entered <- nil
			for r := range reqs {
				c, err := d.DialContext(r.ctx, r.network, r.addr)
				r.reply <- result{c, err}
			}
		}()
	}
	var errs []error
	for range workers {
		errs = append(errs, <-entered)
	}
	var once sync.Once
	stop = func() { once.Do(func() { close(reqs) }) }
	if err := errors.Join(errs...); err != nil {
		stop()
		return nil, nil, err
	}
	dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		reply := make(chan result, 1)
		select {
		case reqs <- request{ctx: ctx, network: network, addr: addr, reply: reply}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		r := <-reply
		return r.c, r.err
	}
	return dial, stop, nil
}
