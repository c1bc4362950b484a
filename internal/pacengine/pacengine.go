// Package pacengine evaluates PAC files in a real PAC engine, pacparser (Debian's
// python3-pacparser, imported by Debian's /usr/bin/python3, installed by
// scripts/install-test-deps.sh), for tests and measurements:
//
//	res, err := pacengine.Eval(ctx, script, []string{"courier.push.apple.com", "17.1.2.3"}, 1)
//	// res.Routes[i] is FindProxyForURL("https://"+host+"/", host) for hosts[i]
//
// Each call starts one python3 process and stops it before returning.
package pacengine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Python is the interpreter that has the pacparser module.
const Python = "/usr/bin/python3"

// evalScript loads the PAC file, asks FindProxyForURL for each host once for the routes (the
// first calls after loading pay for the engine's warm-up), then repeat times over the list
// for the time per evaluation.
const evalScript = `
import json, sys, time
import pacparser
req = json.load(sys.stdin)
pacparser.init()
t0 = time.perf_counter_ns()
pacparser.parse_pac_file(req["pac"])
t1 = time.perf_counter_ns()
routes = [pacparser.find_proxy("https://" + h + "/", h) for h in req["hosts"]]
t2 = time.perf_counter_ns()
for _ in range(req["repeat"]):
    for h in req["hosts"]:
        pacparser.find_proxy("https://" + h + "/", h)
t3 = time.perf_counter_ns()
pacparser.cleanup()
n = len(req["hosts"]) * req["repeat"]
json.dump({"routes": routes, "load_ns": t1 - t0, "eval_ns": (t3 - t2) // max(n, 1)}, sys.stdout)
`

// Result is what the engine said.
type Result struct {
	Routes []string      // FindProxyForURL's answer per host, in order
	Load   time.Duration // parsing and running the file's top level once
	Eval   time.Duration // one FindProxyForURL call after the first round, averaged over every host and round
}

// Eval loads script into pacparser and evaluates it for every host once for the routes, then
// repeat more times (at least once) for the time. It fails when the engine is missing or the script does not load.
func Eval(ctx context.Context, script []byte, hosts []string, repeat int) (*Result, error) {
	repeat = max(repeat, 1)
	dir, err := os.MkdirTemp("", "pacengine")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "proxy.pac")
	if err := os.WriteFile(path, script, 0o600); err != nil {
		return nil, err
	}
	req, _ := json.Marshal(map[string]any{"pac": path, "hosts": hosts, "repeat": repeat})
	cmd := exec.CommandContext(ctx, Python, "-c", evalScript)
	cmd.Stdin = bytes.NewReader(req)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pacparser (%s with python3-pacparser; scripts/install-test-deps.sh installs it): %v\n%s", Python, err, stderr.String())
	}
	var out struct {
		Routes []string `json:"routes"`
		LoadNS int64    `json:"load_ns"`
		EvalNS int64    `json:"eval_ns"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("pacparser: unreadable answer %q: %v\n%s", stdout.String(), err, stderr.String())
	}
	if len(out.Routes) != len(hosts) {
		return nil, fmt.Errorf("pacparser: %d answers for %d hosts\n%s", len(out.Routes), len(hosts), stderr.String())
	}
	return &Result{Routes: out.Routes, Load: time.Duration(out.LoadNS), Eval: time.Duration(out.EvalNS)}, nil
}
