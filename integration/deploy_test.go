package integration

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// deployDir is the deployment kit, from this package's directory.
const deployDir = "../deploy"

func readDeploy(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeploySystemdUnit: systemd-analyze verify finds nothing to say about the unit (it exits
// 0 even for unknown keys, so any output fails), the descriptor limit holds 100,000 idle
// tunnels at the measured 2 descriptors each, and reload validates before it signals.
func TestDeploySystemdUnit(t *testing.T) {
	t.Parallel()
	analyze := requireTool(t, "systemd-analyze")
	unit := readDeploy(t, "systemd/mdmproxy.service")
	// verify checks that ExecStart's binary exists: point it at the binary under test.
	dir := t.TempDir()
	path := filepath.Join(dir, "mdmproxy.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/mdmproxy", binPath)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	m := regexp.MustCompile(`(?m)^LimitNOFILE=(\d+)$`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatal("no numeric LimitNOFILE in the unit")
	}
	if n, _ := strconv.Atoi(m[1]); n < 2*100_000 {
		t.Errorf("LimitNOFILE=%d holds fewer than 100,000 idle tunnels at 2 descriptors each", n)
	}
	for _, want := range []string{
		"User=mdmproxy", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "ProtectSystem=strict",
		"ExecReload=/usr/local/bin/mdmproxy validate --config /etc/mdmproxy/mdmproxy.yaml\nExecReload=/bin/kill -HUP $MAINPID",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	if users := readDeploy(t, "systemd/mdmproxy.sysusers"); !strings.HasPrefix(strings.TrimSpace(lastLine(users)), "u mdmproxy ") {
		t.Errorf("mdmproxy.sysusers does not create the mdmproxy user:\n%s", users)
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// TestDeployHAProxyConfig: haproxy -c accepts the balancer's configuration, which sends
// PROXY protocol v2 to the replicas and checks their /readyz on the admin port.
func TestDeployHAProxyConfig(t *testing.T) {
	t.Parallel()
	haproxy := requireTool(t, "haproxy")
	out, err := exec.Command(haproxy, "-c", "-f", filepath.Join(deployDir, "haproxy/haproxy.cfg")).CombinedOutput()
	if err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	cfg := readDeploy(t, "haproxy/haproxy.cfg")
	for _, want := range []string{"send-proxy-v2", "check port 9090", "uri /readyz", "expect status 200", "mode tcp"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^[^#\n]*shutdown-sessions`).MatchString(cfg) {
		t.Error("haproxy.cfg cuts a replica's tunnels when it is marked down; they must drain")
	}
}

// k8sObject is the part of a Kubernetes object the test reads.
type k8sObject struct {
	Kind     string
	Metadata struct{ Name string }
	Data     map[string]string
	Spec     yaml.Node
}

func loadK8s(t *testing.T) map[string]k8sObject {
	t.Helper()
	objs := map[string]k8sObject{}
	for _, f := range []string{"configmap.yaml", "deployment.yaml", "service.yaml", "pdb.yaml", "networkpolicy.yaml"} {
		dec := yaml.NewDecoder(strings.NewReader(readDeploy(t, "kubernetes/"+f)))
		for {
			var o k8sObject
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			objs[o.Kind] = o
		}
	}
	return objs
}

// deploymentSpec is the part of the Deployment the test checks.
type deploymentSpec struct {
	Template struct {
		Spec struct {
			TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
			Containers                    []struct {
				Ports []struct {
					Name          string
					ContainerPort int `yaml:"containerPort"`
				}
				Lifecycle struct {
					PreStop struct {
						Sleep struct{ Seconds int }
					} `yaml:"preStop"`
				}
				ReadinessProbe  probe `yaml:"readinessProbe"`
				LivenessProbe   probe `yaml:"livenessProbe"`
				StartupProbe    probe `yaml:"startupProbe"`
				SecurityContext struct {
					ReadOnlyRootFilesystem   bool `yaml:"readOnlyRootFilesystem"`
					AllowPrivilegeEscalation bool `yaml:"allowPrivilegeEscalation"`
				} `yaml:"securityContext"`
			}
			SecurityContext struct {
				RunAsNonRoot bool `yaml:"runAsNonRoot"`
			} `yaml:"securityContext"`
		}
	}
}

type probe struct {
	HTTPGet struct {
		Path string
		Port string
	} `yaml:"httpGet"`
}

// TestDeployKubernetes: the ConfigMap's file is a valid configuration; the Deployment's
// preStop sleeps shutdown_delay, its grace period covers preStop, delay and shutdown_grace,
// its probes ask /readyz and /healthz on the port admin_listen binds, and it runs as non-root
// on a read-only root; the Service and the PodDisruptionBudget exist.
func TestDeployKubernetes(t *testing.T) {
	t.Parallel()
	objs := loadK8s(t)
	for _, kind := range []string{"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"} {
		if _, ok := objs[kind]; !ok {
			t.Fatalf("no %s in deploy/kubernetes", kind)
		}
	}
	file := objs["ConfigMap"].Data["mdmproxy.yaml"]
	path := filepath.Join(t.TempDir(), "mdmproxy.yaml")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, "validate", "--config", path); code != 0 {
		t.Fatalf("mdmproxy validate on the ConfigMap's file: %d\n%s%s", code, out, errOut)
	}
	var cfg struct {
		Listen      string `yaml:"listen"`
		AdminListen string `yaml:"admin_listen"`
		Timeouts    struct {
			ShutdownDelay string `yaml:"shutdown_delay"`
			ShutdownGrace string `yaml:"shutdown_grace"`
		}
	}
	if err := yaml.Unmarshal([]byte(file), &cfg); err != nil {
		t.Fatal(err)
	}
	delay, err1 := time.ParseDuration(cfg.Timeouts.ShutdownDelay)
	grace, err2 := time.ParseDuration(cfg.Timeouts.ShutdownGrace)
	if err1 != nil || err2 != nil {
		t.Fatalf("the ConfigMap must set shutdown_delay and shutdown_grace: %v %v", err1, err2)
	}

	var dep deploymentSpec
	spec := objs["Deployment"].Spec
	if err := spec.Decode(&dep); err != nil {
		t.Fatal(err)
	}
	pod := dep.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if pre := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second; pre != delay {
		t.Errorf("preStop sleeps %v, shutdown_delay is %v", pre, delay)
	}
	if need := 2*delay + grace; time.Duration(pod.TerminationGracePeriodSeconds)*time.Second <= need {
		t.Errorf("terminationGracePeriodSeconds %d does not cover preStop + shutdown_delay + shutdown_grace (%v)", pod.TerminationGracePeriodSeconds, need)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if want := portOf(t, cfg.AdminListen); ports["admin"] != want {
		t.Errorf("container port admin %d, admin_listen binds %d", ports["admin"], want)
	}
	if want := portOf(t, cfg.Listen); ports["proxy"] != want {
		t.Errorf("container port proxy %d, listen binds %d", ports["proxy"], want)
	}
	for name, pr := range map[string]struct {
		p    probe
		path string
	}{"readiness": {c.ReadinessProbe, "/readyz"}, "startup": {c.StartupProbe, "/readyz"}, "liveness": {c.LivenessProbe, "/healthz"}} {
		if pr.p.HTTPGet.Path != pr.path || pr.p.HTTPGet.Port != "admin" {
			t.Errorf("%s probe %+v, want %s on the admin port", name, pr.p.HTTPGet, pr.path)
		}
	}
	if !pod.SecurityContext.RunAsNonRoot || !c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.AllowPrivilegeEscalation {
		t.Errorf("the pod must run as non-root on a read-only root without privilege escalation: %+v %+v", pod.SecurityContext, c.SecurityContext)
	}
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		// Optional: kustomize builds the whole kit offline where kubectl is installed.
		if out, err := exec.Command(kubectl, "kustomize", filepath.Join(deployDir, "kubernetes")).CombinedOutput(); err != nil {
			t.Errorf("kubectl kustomize: %v\n%s", err, out)
		}
	}
}

func portOf(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// TestDeployDockerfile: the image is built static (CGO off), runs as a numeric non-root user
// and starts the binary in exec form, so no shell is needed in it.
func TestDeployDockerfile(t *testing.T) {
	t.Parallel()
	df := readDeploy(t, "docker/Dockerfile")
	froms := regexp.MustCompile(`(?m)^FROM `).FindAllStringIndex(df, -1)
	if len(froms) < 2 {
		t.Fatalf("%d FROM lines: not a multi-stage build", len(froms))
	}
	final := df[froms[len(froms)-1][0]:]
	if !strings.Contains(df, "CGO_ENABLED=0 go build") {
		t.Error("the binary is not built with CGO_ENABLED=0 (static)")
	}
	if m := regexp.MustCompile(`(?m)^USER (\d+)`).FindStringSubmatch(final); m == nil || m[1] == "0" {
		t.Error("the final stage does not run as a numeric non-root USER")
	}
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \["`).MatchString(final) || !regexp.MustCompile(`(?m)^CMD \[`).MatchString(final) {
		t.Error("ENTRYPOINT and CMD must use the exec form: the image has no shell")
	}
	if regexp.MustCompile(`(?m)^RUN `).MatchString(final) {
		t.Error("the final stage runs a command, which needs a shell")
	}
}
