package config

import (
	"reflect"
	"testing"
)

// The same configuration in YAML, TOML and JSON loads to the same Config.
func TestFormats(t *testing.T) {
	const yamlText = `
listen: "127.0.0.1:3128"
clients: [10.0.0.0/8]
rules:
  - name: apple-push
    domains: ["*.push.apple.com"]
    cidrs: [17.0.0.0/8]
    ports: [443, 5223]
    persistent: true
  - name: google-fcm
    domains: [mtalk.google.com]
    ports: [443, "5228-5230"]
    tls: optional
hosts:
  - {name: courier.push.apple.com, ip: 17.57.146.20}
timeouts: {idle: 90s, shutdown_grace: 0s}
limits: {max_hello_bytes: 4096}
log:
  level: warn
  outputs:
    - {format: json, output: stderr}
`
	const tomlText = `
listen = "127.0.0.1:3128"
clients = ["10.0.0.0/8"]

[[rules]]
name = "apple-push"
domains = ["*.push.apple.com"]
cidrs = ["17.0.0.0/8"]
ports = [443, 5223]
persistent = true

[[rules]]
name = "google-fcm"
domains = ["mtalk.google.com"]
ports = [443, "5228-5230"]
tls = "optional"

[[hosts]]
name = "courier.push.apple.com"
ip = "17.57.146.20"

[timeouts]
idle = "90s"
shutdown_grace = "0s"

[limits]
max_hello_bytes = 4096

[log]
level = "warn"
outputs = [{format = "json", output = "stderr"}]
`
	const jsonText = `{
  "listen": "127.0.0.1:3128",
  "clients": ["10.0.0.0/8"],
  "rules": [
    {"name": "apple-push", "domains": ["*.push.apple.com"], "cidrs": ["17.0.0.0/8"], "ports": [443, 5223], "persistent": true},
    {"name": "google-fcm", "domains": ["mtalk.google.com"], "ports": [443, "5228-5230"], "tls": "optional"}
  ],
  "hosts": [{"name": "courier.push.apple.com", "ip": "17.57.146.20"}],
  "timeouts": {"idle": "90s", "shutdown_grace": 0},
  "limits": {"max_hello_bytes": 4096},
  "log": {"level": "warn", "outputs": [{"format": "json", "output": "stderr"}]}
}
`
	want := mustLoad(t, yamlText)
	for _, f := range []struct{ name, text string }{{"c.toml", tomlText}, {"c.json", jsonText}, {"c.yml", yamlText}} {
		t.Run(f.name, func(t *testing.T) {
			c, _, err := loadText(t, f.name, f.text)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got  %+v\nwant %+v", c, want)
			}
		})
	}
}

func TestFormatProblems(t *testing.T) {
	t.Run("toml", func(t *testing.T) {
		_, path, err := loadText(t, "c.toml", "[timeouts]\nidle_timout = \"5m\"\n\n[[rules]]\nname = \"a\"\ndomains = [\"a.com\"]\nports = [0]\n")
		errs := problems(t, err)
		wantProblem(t, errs, path, 0, "timeouts.idle_timout", "unknown key")
		wantProblem(t, errs, path, 0, "rules[0].ports[0]", "not a port")
	})
	t.Run("json", func(t *testing.T) {
		_, path, err := loadText(t, "c.json", `{"timeouts": {"idle": 600}, "limits": {"max_tunnels": 1.5}, "extra": null}`)
		errs := problems(t, err)
		wantProblem(t, errs, path, 0, "timeouts.idle", "600 has no unit")
		wantProblem(t, errs, path, 0, "limits.max_tunnels", "whole number")
		wantProblem(t, errs, path, 0, "extra", "unknown key")
	})
}
