package events_test

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/events"
	"github.com/mdmproxy/mdmproxy/internal/testrsyslog"
)

// connectOutputs emits probe denials until every input of rs has received one: the outputs
// connect on their own goroutines and drop what comes before. Bounded: 200 probes, 20 ms
// apart at most.
// The probes come from client probe, which every format writes.
func connectOutputs(t *testing.T, l *events.Logger, rs *testrsyslog.Server, probe netip.Addr, inputs ...string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		l.Emit(&events.Event{Action: events.ActionDeny, Reason: "probe", SourceIP: probe})
		got := map[string]bool{}
		for _, m := range rs.Messages(t) {
			if strings.Contains(m.Msg, probe.String()) {
				got[m.Input] = true
			}
		}
		all := true
		for _, in := range inputs {
			all = all && got[in]
		}
		if all {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("outputs never reached rsyslog's inputs %v", inputs)
}

// TestRsyslogReceivesEveryFormat: a real rsyslog receives every format over UDP, TCP and
// TLS; every message is RFC 5424 as rsyslog parses it (version 1, host, app, procid, msgid,
// no structured data) and its body parses in its format, hostile SNI and host values
// included.
func TestRsyslogReceivesEveryFormat(t *testing.T) {
	rs := testrsyslog.Start(t)
	pid := strconv.Itoa(os.Getpid())
	for k, format := range []string{events.FormatJSON, events.FormatCEF, events.FormatLEEF, events.FormatSquid} {
		t.Run(format, func(t *testing.T) {
			// Each format's events come from clients of their own, which every format
			// writes, so one format's late messages are not taken for another's.
			client := netip.AddrFrom4([4]byte{10, 1, byte(k + 1), 3})
			probe := netip.AddrFrom4([4]byte{10, 9, byte(k + 1), 9})
			tlsConf := events.TLSConfig{CA: rs.CAFile, ServerName: testrsyslog.ServerName}
			l, err := events.New(events.Config{Observer: "gw1.school.lan", Version: "1.2.3", Outputs: []events.OutputConfig{
				{Format: format, Output: "syslog+udp://" + rs.UDPAddr},
				{Format: format, Output: "syslog+tcp://" + rs.TCPAddr},
				{Format: format, Output: "syslog+tls://" + rs.TLSAddr, TLS: tlsConf},
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			connectOutputs(t, l, rs, probe, "udp", "tcp", "tls")
			base := len(rs.Messages(t))
			marker := "marker-"

			values := []string{"plain.example", `a|b=c\d dst=6.6.6.6`, "nl\nCEF:0|x|y|z|1|n|10|src=6.6.6.6", "tab\tsrc=1.1.1.1\x00\x1b", `"q" 'x' {}`}
			for i, v := range values {
				l.Emit(&events.Event{Time: testTime, Action: events.ActionDeny, Reason: marker + strconv.Itoa(i),
					SourceIP: client, SourcePort: 40000, DestDomain: v, DestPort: 443, SNI: v})
			}
			// Probes still in flight may arrive after base: only the marked messages count.
			var msgs []testrsyslog.Message
			waitUntil(t, "the marked messages", func() bool {
				msgs = msgs[:0]
				for _, m := range rs.Messages(t)[base:] {
					if strings.Contains(m.Msg, client.String()) {
						msgs = append(msgs, m)
					}
				}
				return len(msgs) >= 3*len(values)
			})
			perInput := map[string]int{}
			for _, m := range msgs {
				perInput[m.Input]++
				if m.Version != "1" || m.Hostname != "gw1.school.lan" || m.AppName != "mdmproxy" || m.ProcID != pid || m.MsgID != "deny" || m.SD != "-" {
					t.Errorf("%s: not parsed as the RFC 5424 message sent: %+v", m.Input, m)
				}
				checkBody(t, format, marker, client.String(), m, values)
			}
			for _, in := range []string{"udp", "tcp", "tls"} {
				if perInput[in] != len(values) {
					t.Errorf("input %s received %d messages, want %d", in, perInput[in], len(values))
				}
			}
		})
	}
}

// checkBody parses m's body in its format and checks the hostile value kept to its field.
func checkBody(t *testing.T, format, marker, client string, m testrsyslog.Message, values []string) {
	t.Helper()
	switch format {
	case events.FormatJSON:
		rec := decodeLine(t, []byte(m.Msg+"\n"))
		reason := rec["event"].(map[string]any)["reason"].(string)
		i, _ := strconv.Atoi(strings.TrimPrefix(reason, marker))
		sni := rec["tls"].(map[string]any)["client"].(map[string]any)["server_name"]
		if sni != strings.ToValidUTF8(values[i], "\ufffd") {
			t.Errorf("%s: server_name %q, want %q", m.Input, sni, values[i])
		}
	case events.FormatCEF:
		_, ext, err := parseCEF(m.Msg)
		if err != nil {
			t.Fatalf("%s: %v: %q", m.Input, err, m.Msg)
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(ext["reason"], marker))
		if ext["cs2"] != sanitized(values[i], "\n\r") || ext["src"] != client || ext["act"] != "deny" {
			t.Errorf("%s: cs2 %q src %q act %q", m.Input, ext["cs2"], ext["src"], ext["act"])
		}
	case events.FormatLEEF:
		_, attrs, err := parseLEEF(m.Msg)
		if err != nil {
			t.Fatalf("%s: %v: %q", m.Input, err, m.Msg)
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(attrs["reason"], marker))
		if attrs["sni"] != sanitized(values[i], "\n\r\t") || attrs["src"] != client {
			t.Errorf("%s: sni %q src %q", m.Input, attrs["sni"], attrs["src"])
		}
	case events.FormatSquid:
		f := nonEmpty(strings.Split(m.Msg, " "))
		if len(f) != 10 || f[2] != client || f[3] != "TCP_DENIED/403" || f[5] != "CONNECT" {
			t.Errorf("%s: squid fields %q", m.Input, f)
		}
	}
}
