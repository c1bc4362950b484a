package integration

import (
	"bufio"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestFailingEventOutput: an event output whose writes fail (here /dev/full: ENOSPC) is
// reported on the operational log, its events are counted as dropped, and the proxy goes on
// answering.
func TestFailingEventOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := &Proxy{Dir: dir, ConfigPath: filepath.Join(dir, "config.yaml"), EventsPath: "/dev/full"}
	p.WriteConfig(t, Config{})
	p.start(t, "serve", "--config", p.ConfigPath)

	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("CONNECT %d with a failing event output: %v %v, want 403", i, resp, err)
		}
	}
	p.WaitLog(t, "the failing output on the operational log", 1, func(m map[string]any) bool {
		msg, _ := m["message"].(string)
		out, _ := m["output"].(string)
		return strings.Contains(msg, "event output failing") && out == "file:/dev/full"
	})
	waitFor(t, "dropped events to be counted", func() bool { return p.Metric(t, "mdmproxy_events_dropped_total") >= 1 })
}
