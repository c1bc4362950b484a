package config

import (
	"strings"
	"testing"
)

// A minimal valid rule, to put in front of a broken key so that line numbers are easy to read.
const okRule = "rules:\n  - {name: ok, domains: [example.com], ports: [443]}\n"

func TestLoadBad(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		line int
		key  string
		msg  string
	}{
		// Unknown keys and shapes.
		{"unknown top-level key", "listen: 0.0.0.0:3128\nlistn: 0.0.0.0:3129\n", 2, "listn", "unknown key (known here: listen, admin_listen"},
		{"unknown key with no value", "idle_timeout:\n", 1, "idle_timeout", "unknown key"},
		{"unknown nested key", "timeouts:\n  idle: 5m\n  idle_timout: 10m\n", 3, "timeouts.idle_timout", "unknown key (known here: header, hello, connect, idle, half_close, shutdown_delay, shutdown_grace)"},
		{"unknown rule key", "rules:\n  - name: a\n    domain: example.com\n    domains: [example.com]\n    ports: [443]\n", 3, "rules[0].domain", "unknown key (known here: name, domains, cidrs"},
		{"unknown key in third rule", okRule + "  - {name: b, domains: [b.com], ports: [443]}\n  - name: c\n    domains: [c.com]\n    port: [443]\n    ports: [443]\n", 6, "rules[2].port", "unknown key"},
		{"unknown output key", "log:\n  outputs:\n    - {format: json, output: stdout, levle: warn}\n", 3, "log.outputs[0].levle", "unknown key"},
		{"unknown host key", "hosts:\n  - {name: a.example.com, ip: 192.0.2.1, ttl: 5}\n", 2, "hosts[0].ttl", "unknown key"},
		{"section is a scalar", "timeouts: 5s\n", 1, "timeouts", "must be a map with keys header, hello"},
		{"rules is a map", "rules:\n  name: a\n", 1, "rules", "must be a list of maps"},
		{"rule is a string", "rules:\n  - apple-push\n", 2, "rules[0]", "must be a map with keys name"},
		{"section given twice in two cases", "timeouts: {idl: 1}\nTimeouts: {idle: 1s}\n", 1, "timeouts", "given twice, as \"Timeouts\" and \"timeouts\" (keys are not case-sensitive)"},
		{"rule key given twice in two cases", okRule + "  - name: a\n    Name: b\n    domains: [a.com]\n    ports: [443]\n", 3, "rules[1].name", "given twice, as \"Name\" and \"name\""},

		// listen and admin_listen.
		{"listen without port", "listen: \"3128\"\n", 1, "listen", "is not HOST:PORT"},
		{"listen port too big", "listen: 0.0.0.0:70000\n", 1, "listen", "the port must be 0-65535"},
		{"listen named port", "listen: 0.0.0.0:http\n", 1, "listen", "the port must be 0-65535"},
		{"listen is a number", "listen: 3128\n", 1, "listen", "must be a string, not the number 3128"},
		{"listen bad host", "listen: \"exa mple:3128\"\n", 1, "listen", "has a character that is not allowed"},
		{"admin_listen bad", "admin_listen: localhost\n", 1, "admin_listen", "is not HOST:PORT"},
		{"admin on the proxy address", "listen: 127.0.0.1:3128\nadmin_listen: 127.0.0.1:3128\n", 2, "admin_listen", "is the proxy's address too"},
		{"admin on the proxy port, all addresses", "listen: \":3128\"\nadmin_listen: 127.0.0.1:3128\n", 2, "admin_listen", "is the proxy's address too"},

		// CIDRs.
		{"client not a CIDR", "clients:\n  - 10.0.0.0/8\n  - bogus\n", 3, "clients[1]", "\"bogus\" is not a CIDR prefix"},
		{"client host bits", "clients: [10.1.2.3/8]\n", 1, "clients[0]", "\"10.1.2.3/8\" has host bits set (did you mean 10.0.0.0/8?)"},
		{"client IPv6 host bits", "clients: [\"2001:db8::1/32\"]\n", 1, "clients[0]", "has host bits set (did you mean 2001:db8::/32?)"},
		{"client bare address", "clients: [192.0.2.7]\n", 1, "clients[0]", "is an address, not a CIDR prefix (write 192.0.2.7/32)"},
		{"client prefix too long", "clients: [10.0.0.0/33]\n", 1, "clients[0]", "is not a CIDR prefix"},
		{"clients a map", "clients: {a: 1}\n", 1, "clients", "must be a list"},
		{"deny_cidrs host bits", "deny_cidrs: [\"fe80::1/10\"]\n", 1, "deny_cidrs[0]", "host bits"},
		{"rule cidr bad", "rules:\n  - name: a\n    cidrs: [17.0.0.0/8, 17.1.0.0/8]\n    ports: [443]\n", 3, "rules[0].cidrs[1]", "host bits set (did you mean 17.0.0.0/8?)"},
		{"trusted balancer bad", "proxy_protocol: {trusted: [lb]}\n", 1, "proxy_protocol.trusted[0]", "not a CIDR prefix"},

		// Roles and rules' clients.
		{"roles.server not a CIDR", "roles:\n  server: [10.1.2.3/32, mdm.school.lan]\n", 2, "roles.server[1]", "\"mdm.school.lan\" is not a CIDR prefix"},
		{"roles.admin host bits", "roles:\n  admin: [10.1.5.7/24]\n", 2, "roles.admin[0]", "has host bits set (did you mean 10.1.5.0/24?)"},
		{"roles.server outside clients", "clients: [10.0.0.0/8]\nroles:\n  server: [192.0.2.10/32]\n", 3, "roles.server[0]", "192.0.2.10/32 is outside clients"},
		{"roles a list", "roles: [10.1.2.3/32]\n", 1, "roles", "must be a map with keys server, admin"},
		{"unknown role", "roles:\n  servers: [10.1.2.3/32]\n", 2, "roles.servers", "unknown key (known here: server, admin)"},
		{"rule clients bad", "rules:\n  - name: a\n    clients: [10.3.0.0/16, lab]\n    domains: [a.com]\n    ports: [443]\n", 3, "rules[0].clients[1]", "\"lab\" is not a CIDR prefix"},
		{"rule clients outside clients", "clients: [10.0.0.0/8]\n" + okRule + "  - name: a\n    clients: [10.3.0.0/16, \"2001:db8::/32\"]\n    domains: [a.com]\n    ports: [443]\n", 5, "rules[1].clients[1]", "2001:db8::/32 is outside clients"},

		// Rules.
		{"rule without name", "rules:\n  - domains: [a.com]\n    ports: [443]\n", 2, "rules[0].name", "required"},
		{"rule name with space", "rules:\n  - name: jamf cloud\n    domains: [a.com]\n    ports: [443]\n", 2, "rules[0].name", "may contain only letters, digits and . _ / -"},
		{"rule name not a string", "rules:\n  - name: [a]\n    domains: [a.com]\n    ports: [443]\n", 2, "rules[0].name", "must be a string"},
		{"rule names repeat", okRule + "  - name: ok\n    cidrs: [17.0.0.0/8]\n    ports: [443]\n", 3, "rules[1].name", "\"ok\" is already the name of rules[0]"},
		{"rule without targets", "rules:\n  - name: a\n    ports: [443]\n", 2, "rules[0]", "needs domains or cidrs"},
		{"rule with empty targets", "rules:\n  - name: a\n    domains: []\n    cidrs: []\n    ports: [443]\n", 2, "rules[0]", "needs domains or cidrs"},
		{"rule without ports", "rules:\n  - name: a\n    domains: [a.com]\n", 2, "rules[0].ports", "required"},
		{"rule with empty ports", "rules:\n  - name: a\n    domains: [a.com]\n    ports: []\n", 4, "rules[0].ports", "at least one port"},
		{"port 0", "rules:\n  - name: a\n    domains: [a.com]\n    ports: [0]\n", 4, "rules[0].ports[0]", "0 is not a port (1-65535)"},
		{"port too big", "rules:\n  - name: a\n    domains: [a.com]\n    ports: [443, 70000]\n", 4, "rules[0].ports[1]", "70000 is not a port"},
		{"port range backwards", "rules:\n  - name: a\n    domains: [a.com]\n    ports: [\"5230-5228\"]\n", 4, "rules[0].ports[0]", "ends before it starts"},
		{"port word", "rules:\n  - name: a\n    domains: [a.com]\n    ports: [https]\n", 4, "rules[0].ports[0]", "is not a port"},
		{"port fraction", "rules:\n  - name: a\n    domains: [a.com]\n    ports: [443.5]\n", 4, "rules[0].ports[0]", "must be a port"},
		{"ports on their own lines", "rules:\n  - name: a\n    domains: [a.com]\n    ports:\n      - 443\n      - -1\n", 6, "rules[0].ports[1]", "is not a port"},
		{"tls bad", "rules:\n  - name: a\n    domains: [a.com]\n    ports: [443]\n    tls: maybe\n", 5, "rules[0].tls", "\"maybe\" is not one of required, optional"},
		{"persistent bad", "rules:\n  - name: a\n    domains: [a.com]\n    ports: [443]\n    persistent: yes\n", 5, "rules[0].persistent", "must be true or false"},

		// Domains.
		{"wildcard in the middle", "rules:\n  - name: a\n    domains: [\"push.*.apple.com\"]\n    ports: [443]\n", 3, "rules[0].domains[0]", "a wildcard is only allowed as a leading \"*.\""},
		{"bare wildcard", "rules:\n  - name: a\n    domains: [\"*\"]\n    ports: [443]\n", 3, "rules[0].domains[0]", "wildcard"},
		{"wildcard without dot", "rules:\n  - name: a\n    domains: [\"*apple.com\"]\n    ports: [443]\n", 3, "rules[0].domains[0]", "wildcard"},
		{"IPv4 literal domain", "rules:\n  - name: a\n    domains: [17.57.146.20]\n    ports: [443]\n", 3, "rules[0].domains[0]", "is an IP address; list it under cidrs"},
		{"IPv6 literal domain", "rules:\n  - name: a\n    domains: [\"[2001:db8::1]\"]\n    ports: [443]\n", 3, "rules[0].domains[0]", "is an IP address"},
		{"numeric domain", "rules:\n  - name: a\n    domains: [\"127.1\"]\n    ports: [443]\n", 3, "rules[0].domains[0]", "is numeric but not an IP address"},
		{"domain with space", "rules:\n  - name: a\n    domains: [\"exa mple.com\"]\n    ports: [443]\n", 3, "rules[0].domains[0]", "has a character that is not allowed"},
		{"domain empty label", "rules:\n  - name: a\n    domains: [\"a..com\"]\n    ports: [443]\n", 3, "rules[0].domains[0]", "has an empty label"},
		{"domain label too long", "rules:\n  - name: a\n    domains: [\"" + strings.Repeat("a", 64) + ".com\"]\n    ports: [443]\n", 3, "rules[0].domains[0]", "longer than 63"},
		{"domains a map", "rules:\n  - name: a\n    domains: {apple.com: 1}\n    ports: [443]\n", 3, "rules[0].domains", "must be a list"},

		// Hosts.
		{"host without ip", "hosts:\n  - name: a.example.com\n", 2, "hosts[0].ip", "required"},
		{"host without name", "hosts:\n  - ip: 192.0.2.1\n", 2, "hosts[0].name", "required"},
		{"host bad ip", "hosts:\n  - {name: a.example.com, ip: 192.0.2.300}\n", 2, "hosts[0].ip", "is not an IPv4 or IPv6 address"},
		{"host wildcard name", "hosts:\n  - name: \"*.example.com\"\n    ip: 192.0.2.1\n", 2, "hosts[0].name", "a wildcard is not allowed here"},
		{"host IP as name", "hosts:\n  - {name: 192.0.2.1, ip: 192.0.2.1}\n", 2, "hosts[0].name", "is an IP address"},
		{"hosts as a map", "hosts:\n  courier.push.apple.com: 17.57.146.20\n", 1, "hosts", "must be a list of maps"},

		// Durations.
		{"duration garbage", "timeouts:\n  idle: soon\n", 2, "timeouts.idle", "\"soon\" is not a duration"},
		{"duration without unit", "timeouts:\n  hello: 5\n", 2, "timeouts.hello", "5 has no unit (write e.g. 5s)"},
		{"duration zero", "timeouts:\n  header: 0s\n", 2, "timeouts.header", "must be more than 0"},
		{"duration zero number", "timeouts: {connect: 0}\n", 1, "timeouts.connect", "must be more than 0"},
		{"duration negative", "timeouts:\n  half_close: -5s\n", 2, "timeouts.half_close", "negative"},
		{"shutdown_grace negative", "timeouts:\n  shutdown_grace: -1s\n", 2, "timeouts.shutdown_grace", "negative"},
		{"shutdown_delay negative", "timeouts:\n  shutdown_delay: -1s\n", 2, "timeouts.shutdown_delay", "negative"},
		{"admin_pprof not a boolean", "admin_pprof: sometimes\n", 1, "admin_pprof", "true or false"},
		{"duration a list", "timeouts:\n  idle: [1s]\n", 2, "timeouts.idle", "must be a duration"},

		// Limits.
		{"limit not a number", "limits:\n  max_header_bytes: big\n", 2, "limits.max_header_bytes", "must be a whole number"},
		{"limit too small", "limits:\n  max_header_bytes: 512\n", 2, "limits.max_header_bytes", "512 is outside 1024-1048576"},
		{"limit too big", "limits:\n  max_hello_bytes: 2097152\n", 2, "limits.max_hello_bytes", "outside 1024-1048576"},
		{"limit negative", "limits:\n  max_tunnels: -1\n", 2, "limits.max_tunnels", "negative"},
		{"limit per client negative", "limits:\n  max_tunnels_per_client: -3\n", 2, "limits.max_tunnels_per_client", "negative"},
		{"limit fraction", "limits: {max_hello_bytes: 2048.5}\n", 1, "limits.max_hello_bytes", "whole number"},

		// Log.
		{"log level bad", "log:\n  level: verbose\n", 2, "log.level", "\"verbose\" is not one of debug, info, warn, error"},
		{"log short format bad", "log:\n  format: xml\n", 2, "log.format", "\"xml\" is not one of json, cef, leef, squid"},
		{"log short output bad", "log:\n  output: \"ftp://x\"\n", 2, "log.output", "is not one of stdout, stderr, file:PATH"},
		{"log file without path", "log:\n  output: \"file:\"\n", 2, "log.output", "names no file"},
		{"log outputs format bad", "log:\n  outputs:\n    - {format: json, output: stdout}\n    - {format: yaml, output: stderr}\n", 4, "log.outputs[1].format", "not one of json, cef"},
		{"log outputs level bad", "log:\n  outputs:\n    - {output: stderr, level: loud}\n", 3, "log.outputs[0].level", "not one of debug"},
		{"syslog without port", "log:\n  outputs:\n    - output: \"syslog+tcp://siem.school.lan\"\n", 3, "log.outputs[0].output", "is not HOST:PORT"},
		{"syslog with path", "log:\n  outputs:\n    - output: \"syslog+udp://siem:514/x\"\n", 3, "log.outputs[0].output", "is not of the form syslog+udp://HOST:PORT"},
		{"rotate on stdout", "log:\n  outputs:\n    - output: stdout\n      rotate: {max_size_mb: 10}\n", 4, "log.outputs[0].rotate", "only a file: output rotates"},
		{"rotate size 0", "log:\n  outputs:\n    - output: \"file:/tmp/e.json\"\n      rotate:\n        max_size_mb: 0\n", 5, "log.outputs[0].rotate.max_size_mb", "at least 1"},
		{"rotate backups negative", "log:\n  outputs:\n    - output: \"file:/tmp/e.json\"\n      rotate:\n        max_size_mb: 5\n        max_backups: -1\n", 6, "log.outputs[0].rotate.max_backups", "0 (keep all) or more"},
		{"rotate size not a number", "log:\n  outputs:\n    - output: \"file:/tmp/e.json\"\n      rotate:\n        max_size_mb: big\n", 5, "log.outputs[0].rotate.max_size_mb", "whole number"},
		{"rotate unknown key", "log:\n  outputs:\n    - output: \"file:/tmp/e.json\"\n      rotate:\n        max_size: 5\n", 5, "log.outputs[0].rotate.max_size", "unknown key (known here: max_size_mb, max_backups, max_age_days, compress)"},
		{"tls on tcp", "log:\n  outputs:\n    - output: \"syslog+tcp://siem:601\"\n      tls: {ca: /etc/ca.pem}\n", 4, "log.outputs[0].tls", "only a syslog+tls:// output has tls settings"},
		{"tls cert without key", "log:\n  outputs:\n    - output: \"syslog+tls://siem:6514\"\n      tls:\n        cert: /etc/c.pem\n", 4, "log.outputs[0].tls.key", "give both or neither"},
		{"tls unknown key", "log:\n  outputs:\n    - output: \"syslog+tls://siem:6514\"\n      tls:\n        ca_file: /etc/c.pem\n", 5, "log.outputs[0].tls.ca_file", "unknown key (known here: ca, cert, key, server_name)"},
		{"aggregate negative", "log:\n  aggregate: -5s\n", 2, "log.aggregate", "negative"},
		{"aggregate not a duration", "log:\n  aggregate: often\n", 2, "log.aggregate", "not a duration"},
		{"log short and long forms", "log:\n  format: json\n  outputs:\n    - {output: stdout}\n", 2, "log.format", "use either the short form"},
		{"log output with outputs", "log:\n  outputs: [{output: stdout}]\n  output: stderr\n", 3, "log.output", "not both"},
		{"log outputs empty", "log:\n  outputs: []\n", 2, "log.outputs", "at least one output"},

		// Enumerations and URLs.
		{"mode bad", "mode: audit\n", 1, "mode", "\"audit\" is not one of enforce, report"},
		{"default_action bad", "default_action: block\n", 1, "default_action", "\"block\" is not one of deny, upstream, allow"},
		{"upstream without set upstream", "default_action: upstream\n", 1, "default_action", "needs the upstream key set"},
		{"upstream https", "upstream: \"https://filter:8080\"\n", 1, "upstream", "must be http://HOST:PORT"},
		{"upstream without port", "upstream: \"http://filter.school.lan\"\n", 1, "upstream", "has no port"},
		{"upstream with path", "upstream: \"http://filter:8080/proxy\"\n", 1, "upstream", "no path"},
		{"upstream bare host", "upstream: \"filter:8080\"\n", 1, "upstream", "must be http://HOST:PORT"},
		{"upstream password not repeated", "upstream: \"https://alice:s3cret@filter:8080\"\n", 1, "upstream", "\"https://alice:xxxxx@filter:8080\": must be http://HOST:PORT"},
		{"pac.mdm bad", "pac:\n  mdm: sideways\n", 2, "pac.mdm", "\"sideways\" is not one of proxy, direct"},
		{"pac.proxy bad", "pac:\n  proxy: \"mdmproxy.school.lan\"\n", 2, "pac.proxy", "is not HOST:PORT"},
		{"pac.rest bad", "pac:\n  rest: filter\n", 2, "pac.rest", "\"filter\" is not one of proxy, upstream, direct"},
		{"pac.rest upstream without upstream", "pac:\n  rest: upstream\n", 2, "pac.rest", "needs the upstream key set"},
		{"pac.listen bad", "pac:\n  listen: \"80\"\n", 2, "pac.listen", "is not HOST:PORT"},
		{"pac.listen is the proxy's", "listen: \"0.0.0.0:3128\"\npac:\n  listen: \":3128\"\n", 3, "pac.listen", "is already listen"},
		{"pac.listen is the admin's", "admin_listen: \"127.0.0.1:9090\"\npac:\n  listen: \"127.0.0.1:9090\"\n", 3, "pac.listen", "is already admin_listen"},
		{"pac.direct bad", "pac:\n  direct: [\"*.school.lan\", \"10.0.0.1/8\"]\n", 2, "pac.direct[1]", "host bits"},
		{"transparent.mode bad", "transparent:\n  mode: nat\n", 2, "transparent.mode", "\"nat\" is not one of redirect, tproxy"},
		{"transparent.listen bad", "transparent:\n  listen: [\"3129\"]\n", 2, "transparent.listen[0]", "is not HOST:PORT"},
		{"transparent.listen is listen", "listen: \"127.0.0.1:3128\"\ntransparent:\n  listen: [\"127.0.0.1:3129\", \":3128\"]\n", 3, "transparent.listen[1]", "clashes with listen"},
		{"transparent.listen is admin_listen", "admin_listen: \"127.0.0.1:9090\"\ntransparent:\n  listen: [\"127.0.0.1:9090\"]\n", 3, "transparent.listen[0]", "clashes with admin_listen"},
		{"transparent.listen is pac.listen", "pac:\n  listen: \":80\"\ntransparent:\n  listen: [\"10.0.0.1:80\"]\n", 4, "transparent.listen[0]", "clashes with pac.listen"},
		{"transparent.listen twice", "transparent:\n  listen: [\"0.0.0.0:3129\", \"10.0.0.1:3129\"]\n", 2, "transparent.listen[1]", "clashes with transparent.listen[0]"},

		// Presets.
		{"unknown preset", "presets: [apple-push, nope]\n", 1, "presets[1]", `unknown preset "nope"`},
		{"presets_disabled names a preset", "presets: [google]\npresets_disabled: [google-fcm]\n", 2, "presets_disabled[0]", "unknown preset entry"},
		{"admin rule takes a preset entry's name", "presets: [apple-push]\nrules:\n  - name: apple-push/courier\n    domains: [a.example]\n    ports: [443]\n", 3, "rules[0].name", "preset entry in use"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, path, err := loadText(t, "mdmproxy.yaml", tc.yaml)
			errs := problems(t, err)
			wantProblem(t, errs, path, tc.line, tc.key, tc.msg)
		})
	}
}

// Every problem of a file is reported at once, in line order.
func TestLoadReportsAllProblems(t *testing.T) {
	const text = `listen: 0.0.0.0:3128
clients: [10.1.2.3/8]
timeouts:
  idle_timout: 5m
  hello: 5
rules:
  - name: jamf cloud
    domains: ["*.jamfcloud.com", "a.*.b"]
    ports: [443, 0]
    tls: maybe
mode: audit
`
	_, path, err := loadText(t, "school.yaml", text)
	errs := problems(t, err)
	want := []struct {
		line int
		key  string
		msg  string
	}{
		{2, "clients[0]", "host bits"},
		{4, "timeouts.idle_timout", "unknown key"},
		{5, "timeouts.hello", "no unit"},
		{7, "rules[0].name", "may contain only"},
		{8, "rules[0].domains[1]", "wildcard"},
		{9, "rules[0].ports[1]", "not a port"},
		{10, "rules[0].tls", "not one of required, optional"},
		{11, "mode", "not one of enforce, report"},
	}
	if len(errs) != len(want) {
		t.Errorf("want %d problems, got %d:\n%v", len(want), len(errs), errs)
	}
	for _, w := range want {
		wantProblem(t, errs, path, w.line, w.key, w.msg)
	}
	lines := strings.Split(errs.Error(), "\n")
	if len(lines) != len(errs) {
		t.Errorf("Errors.Error() has %d lines for %d problems", len(lines), len(errs))
	}
	for i := 1; i < len(errs); i++ {
		if errs[i].Line < errs[i-1].Line {
			t.Errorf("problems out of line order:\n%v", errs)
			break
		}
	}
}

func TestLoadBadFile(t *testing.T) {
	t.Run("yaml syntax", func(t *testing.T) {
		_, path, err := loadText(t, "c.yaml", "listen: 0.0.0.0:3128\nrules:\n  - name: a\n   domains: [x]\n")
		errs := problems(t, err)
		if len(errs) != 1 || errs[0].File != path || errs[0].Line == 0 || !strings.Contains(errs[0].Msg, "cannot parse the file") {
			t.Errorf("got %v", errs)
		}
	})
	t.Run("yaml not a map", func(t *testing.T) {
		_, path, err := loadText(t, "c.yaml", "- listen\n")
		wantProblem(t, problems(t, err), path, 1, "", "the top level must be a map")
	})
	t.Run("duplicate key", func(t *testing.T) {
		_, path, err := loadText(t, "c.yaml", "mode: enforce\nmode: report\n")
		wantProblem(t, problems(t, err), path, 2, "", "mapping key \"mode\" already defined at line 1")
	})
	t.Run("json syntax", func(t *testing.T) {
		_, path, err := loadText(t, "c.json", "{\n  \"listen\": \"0.0.0.0:3128\",\n  \"mode\": enforce\n}\n")
		wantProblem(t, problems(t, err), path, 3, "", "cannot parse the file")
	})
	t.Run("toml syntax", func(t *testing.T) {
		_, path, err := loadText(t, "c.toml", "listen = \"0.0.0.0:3128\"\nmode = = \"enforce\"\n")
		wantProblem(t, problems(t, err), path, 2, "", "cannot parse the file")
	})
	t.Run("unsupported extension", func(t *testing.T) {
		_, path, err := loadText(t, "c.ini", "listen=x\n")
		wantProblem(t, problems(t, err), path, 0, "", "unsupported file type")
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(LoadOptions{Path: "/nonexistent/mdmproxy.yaml", Env: []string{}})
		var errs Errors
		if err == nil || errorsAs(err, &errs) {
			t.Errorf("want a plain I/O error, got %v", err)
		}
	})
}
