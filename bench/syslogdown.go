package bench

import (
	"context"
	"net"
	"path/filepath"
	"strings"
)

// SyslogDownName is the target of mdmproxy whose only event output is a syslog collector that
// is down (issue #13): its set-up rate, measured in the same rounds as mdmproxy writing events
// to a file, shows what an absent collector costs the data path (goal: at least 0.95×).
const SyslogDownName = "mdmproxy-syslogdown"

// MdmproxySyslogDownConfig is MdmproxyConfig with the events going to syslog over TCP at addr,
// where nothing listens: every event is dropped and counted while the output retries in the
// background.
func MdmproxySyslogDownConfig(e *Endpoints, addr string) string {
	cfg := MdmproxyConfig(e, "unused")
	i := strings.Index(cfg, "\nlog: ")
	return cfg[:i+1] + `log: {format: json, output: "syslog+tcp://` + addr + `", level: info}` + "\n"
}

// StartMdmproxySyslogDown starts mdmproxy with MdmproxySyslogDownConfig, its collector an
// address on loopback that was free a moment ago (bound, then closed).
func StartMdmproxySyslogDown(ctx context.Context, bin, dir string, e *Endpoints) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg, err := writeConfig(dir, "mdmproxy-syslogdown.yaml", MdmproxySyslogDownConfig(e, addr))
	if err != nil {
		return nil, err
	}
	return startMdmproxy(ctx, []string{bin}, cfg, filepath.Join(dir, "mdmproxy-syslogdown.log"))
}
