package config

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

const fileForOverrides = `listen: 0.0.0.0:3128
timeouts:
  idle: 5m
`

func TestEnvOverrides(t *testing.T) {
	c := mustLoad(t, fileForOverrides,
		"PATH=/usr/bin",
		"MDMPROXY_LISTEN=127.0.0.1:3129",
		"MDMPROXY_ADMIN_LISTEN=127.0.0.1:9191",
		"MDMPROXY_TIMEOUTS_IDLE=90s",
		"MDMPROXY_TIMEOUTS_HALF_CLOSE=2m", // the file has no such key: viper must still see it
		"MDMPROXY_CLIENTS=10.0.0.0/8,192.168.0.0/16",
		"MDMPROXY_DEFAULT_ACTION=deny",
		"MDMPROXY_DENY_CIDRS= 169.254.0.0/16 , fe80::/10 ,",
		"MDMPROXY_LIMITS_MAX_HEADER_BYTES=2048",
		"MDMPROXY_LOG_LEVEL=debug",
		"MDMPROXY_LOG_OUTPUT=stderr",
		"MDMPROXY_MODE=", // empty: unset
	)
	if c.Listen != "127.0.0.1:3129" || c.AdminListen != "127.0.0.1:9191" {
		t.Errorf("listen %q admin %q", c.Listen, c.AdminListen)
	}
	if c.Timeouts.Idle != 90*time.Second || c.Timeouts.HalfClose != 2*time.Minute || c.Timeouts.Header != 10*time.Second {
		t.Errorf("timeouts %+v", c.Timeouts)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16")}; !slices.Equal(c.Clients, want) {
		t.Errorf("clients %v", c.Clients)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10")}; !slices.Equal(c.DenyCIDRs, want) {
		t.Errorf("deny_cidrs %v", c.DenyCIDRs)
	}
	if c.DefaultAction != allowlist.Deny || c.Mode != "enforce" || c.Limits.MaxHeaderBytes != 2048 {
		t.Errorf("config %+v", c)
	}
	if want := (Log{Level: "debug", Outputs: []LogOutput{{Format: "json", Output: "stderr", Level: "debug"}}}); !slices.Equal(c.Log.Outputs, want.Outputs) || c.Log.Level != "debug" {
		t.Errorf("log %+v", c.Log)
	}
}

func TestEnvOverridesEmbeddedDefault(t *testing.T) {
	c, err := Load(LoadOptions{Env: []string{"MDMPROXY_LISTEN=127.0.0.1:3128"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:3128" || len(c.Presets) != 2 {
		t.Errorf("got %+v", c)
	}
}

func TestEnvLastEntryWins(t *testing.T) {
	c := mustLoad(t, "", "MDMPROXY_TIMEOUTS_IDLE=1m", "MDMPROXY_TIMEOUTS_IDLE=2m")
	if c.Timeouts.Idle != 2*time.Minute {
		t.Errorf("idle %v", c.Timeouts.Idle)
	}
}

func TestEnvProblems(t *testing.T) {
	_, path, err := loadText(t, "c.yaml", fileForOverrides,
		"MDMPROXY_TIMEOUTS_IDLE=soon",
		"MDMPROXY_CLIENTS=10.0.0.0/8,10.1.2.3/8",
		"MDMPROXY_RULES=apple-push",
		"MDMPROXY_HOSTS=a=1.2.3.4",
		"MDMPROXY_LOG_OUTPUTS=stdout",
		"MDMPROXY_TIMEOUTS=5s",
		"MDMPROXY_MODE=audit",
		"MDMPROXY_LOG_FORMAT=xml",
	)
	errs := problems(t, err)
	wantProblem(t, errs, "$MDMPROXY_TIMEOUTS_IDLE", 0, "timeouts.idle", "\"soon\" is not a duration")
	wantProblem(t, errs, "$MDMPROXY_CLIENTS", 0, "clients[1]", "host bits")
	wantProblem(t, errs, "$MDMPROXY_RULES", 0, "rules", "comes from the configuration file only")
	wantProblem(t, errs, "$MDMPROXY_HOSTS", 0, "hosts", "comes from the configuration file only")
	wantProblem(t, errs, "$MDMPROXY_LOG_OUTPUTS", 0, "log.outputs", "comes from the configuration file only")
	wantProblem(t, errs, "$MDMPROXY_TIMEOUTS", 0, "timeouts", "is a section; set one of its keys (MDMPROXY_TIMEOUTS_HEADER")
	wantProblem(t, errs, "$MDMPROXY_MODE", 0, "mode", "\"audit\" is not one of enforce, report")
	wantProblem(t, errs, "$MDMPROXY_LOG_FORMAT", 0, "log.format", "\"xml\" is not one of json, cef, leef, squid")
	if len(errs) != 8 {
		t.Errorf("want 8 problems, got %d:\n%v", len(errs), errs)
	}
	for _, e := range errs {
		if e.File == path {
			t.Errorf("problem blamed on the file: %v", e)
		}
	}
}

func TestFlags(t *testing.T) {
	path := writeFile(t, "c.yaml", fileForOverrides+"admin_listen: 127.0.0.1:9090\n")
	c, err := Load(LoadOptions{
		Path:  path,
		Env:   []string{"MDMPROXY_LISTEN=127.0.0.1:3129", "MDMPROXY_TIMEOUTS_IDLE=90s", "MDMPROXY_ADMIN_LISTEN=127.0.0.1:9191"},
		Flags: map[string]string{"listen": "127.0.0.1:3130", "timeouts.connect": "3s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// flag > env > file > default
	if c.Listen != "127.0.0.1:3130" || c.AdminListen != "127.0.0.1:9191" || c.Timeouts.Idle != 90*time.Second || c.Timeouts.Connect != 3*time.Second {
		t.Errorf("got %+v", c)
	}

	_, err = Load(LoadOptions{
		Path:  path,
		Env:   []string{},
		Flags: map[string]string{"listen": "nope", "rules": "x", "timeouts": "5s", "lisen": "x", "admin_listen": "0.0.0.0:3128"},
	})
	errs := problems(t, err)
	wantProblem(t, errs, "flag listen", 0, "listen", "is not HOST:PORT")
	wantProblem(t, errs, "flag rules", 0, "rules", "comes from the configuration file only")
	wantProblem(t, errs, "flag timeouts", 0, "timeouts", "is a section")
	wantProblem(t, errs, "flag lisen", 0, "lisen", "unknown key")
	if len(errs) != 4 {
		t.Errorf("want 4 problems, got:\n%v", errs)
	}
}

func TestAdminCollisionBlamesWhereTheValueCameFrom(t *testing.T) {
	_, _, err := loadText(t, "c.yaml", "mode: enforce\n", "MDMPROXY_ADMIN_LISTEN=0.0.0.0:3128")
	wantProblem(t, problems(t, err), "$MDMPROXY_ADMIN_LISTEN", 0, "admin_listen", "is the proxy's address too")
}

func TestEnvNames(t *testing.T) {
	if got := EnvName("timeouts.half_close"); got != "MDMPROXY_TIMEOUTS_HALF_CLOSE" {
		t.Errorf("EnvName = %q", got)
	}
	seen := map[string]string{}
	for _, key := range leafKeys() {
		name := EnvName(key)
		if other, dup := seen[name]; dup {
			t.Errorf("%s and %s share %s", key, other, name)
		}
		seen[name] = key
	}
}

// Every key the environment may set is decoded: a bad value for it is reported by its key and
// blamed on its variable.
func TestSchemaKeysAreDecoded(t *testing.T) {
	for _, key := range leafKeys() {
		t.Run(key, func(t *testing.T) {
			name := EnvName(key)
			_, _, err := loadText(t, "c.yaml", "", name+"=-1/x:")
			errs := problems(t, err)
			for _, e := range errs {
				if e.File == "$"+name && (e.Key == key || parentKey(e.Key) == key) {
					return
				}
			}
			t.Errorf("no problem blamed on %s for key %s:\n%v", name, key, errs)
		})
	}
}

func TestEnvDurationWithoutUnit(t *testing.T) {
	_, _, err := loadText(t, "c.yaml", "", "MDMPROXY_TIMEOUTS_CONNECT=10", "MDMPROXY_TIMEOUTS_SHUTDOWN_GRACE=0")
	errs := problems(t, err)
	wantProblem(t, errs, "$MDMPROXY_TIMEOUTS_CONNECT", 0, "timeouts.connect", "10 has no unit (write e.g. 10s)")
	if len(errs) != 1 {
		t.Errorf("want 1 problem, got:\n%v", errs)
	}
}

// MDMPROXY_ variables that name no key are not ours: Kubernetes service links, test tools.
func TestEnvIgnoresOtherVariables(t *testing.T) {
	c := mustLoad(t, "",
		"MDMPROXY_PORT=tcp://10.96.0.12:3128",
		"MDMPROXY_PORT_3128_TCP_ADDR=10.96.0.12",
		"MDMPROXY_SERVICE_HOST=10.96.0.12",
		"MDMPROXY_SERVICE_PORT=3128",
		"MDMPROXY_BIN=/tmp/mdmproxy",
		"mdmproxy_listen=nope",
	)
	if want := Default().Listen; c.Listen != want {
		t.Errorf("listen %q after mdmproxy_listen=nope (lower case, not ours); want the default %q", c.Listen, want)
	}
}
