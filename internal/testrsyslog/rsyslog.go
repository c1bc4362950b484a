// Package testrsyslog runs a real rsyslogd for tests, the collector a school's SIEM pipeline
// starts with:
//
//	rs := testrsyslog.Start(t)            // UDP, TCP and TLS (gtls) inputs on 127.0.0.1
//	// ... ship to "syslog+udp://"+rs.UDPAddr, "syslog+tcp://"+rs.TCPAddr, "syslog+tls://"+rs.TLSAddr
//	msgs := rs.WaitMessages(t, 3)         // every message rsyslog parsed, in arrival order
//	rs.Kill(t); rs.Restart(t)             // a collector outage, on the same ports
//
// rsyslogd runs in the foreground with its own configuration, work directory, pid file and
// throw-away PKI (internal/testpki), never the system's. Each message it receives is written
// to a file as rsyslog parsed it: protocol version, host, app, procid, msgid, structured data,
// the input that took it and the message. A message that is not RFC 5424 shows up with
// version 0 and the wrong fields. The process is killed when the test ends.
package testrsyslog

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/internal/testpki"
)

// ServerName is the name on the TLS input's certificate.
const ServerName = "siem.test"

// Server is one rsyslogd process.
type Server struct {
	UDPAddr, TCPAddr, TLSAddr string // 127.0.0.1:PORT of each input
	CAFile                    string // PEM of the CA that signed the TLS input's certificate

	dir, conf, pidFile, out string
	cmd                     *exec.Cmd
	done                    chan struct{}
}

// Message is one received message as rsyslog parsed it.
type Message struct {
	Version  string // "1" for RFC 5424
	Hostname string
	AppName  string
	ProcID   string
	MsgID    string
	SD       string // structured data, "-" for none
	Input    string // udp, tcp or tls: the input that received it
	Msg      string
}

// Start writes the configuration and PKI and starts rsyslogd; it returns once the TCP and
// TLS inputs accept connections. The test fails when rsyslogd is not installed: a real
// collector is what these tests are for (scripts/install-test-deps.sh installs it).
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("rsyslogd"); err != nil {
		t.Fatal("rsyslogd not installed: run scripts/install-test-deps.sh (it installs rsyslog and rsyslog-gnutls)")
	}
	dir := t.TempDir()
	s := &Server{dir: dir, conf: filepath.Join(dir, "rsyslog.conf"), pidFile: filepath.Join(dir, "rsyslogd.pid"),
		out: filepath.Join(dir, "messages.log"), CAFile: filepath.Join(dir, "ca.pem")}
	pki, err := testpki.New("rsyslog test CA", time.Hour, []string{ServerName}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(pki.LeafKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, s.CAFile, "CERTIFICATE", pki.CADER)
	writePEM(t, filepath.Join(dir, "cert.pem"), "CERTIFICATE", pki.LeafDER)
	writePEM(t, filepath.Join(dir, "key.pem"), "PRIVATE KEY", keyDER)

	udp := freePort(t, "udp")
	tcp := freePort(t, "tcp")
	tlsPort := freePort(t, "tcp")
	s.UDPAddr, s.TCPAddr, s.TLSAddr = "127.0.0.1:"+udp, "127.0.0.1:"+tcp, "127.0.0.1:"+tlsPort
	conf := fmt.Sprintf(`global(workDirectory=%[1]q maxMessageSize="64k"
  parser.escapeControlCharactersOnReceive="off"
  defaultNetstreamDriverCAFile=%[2]q
  defaultNetstreamDriverCertFile=%[3]q
  defaultNetstreamDriverKeyFile=%[4]q)
module(load="imudp")
module(load="imtcp" maxSessions="200")
input(type="imudp" address="127.0.0.1" port=%[5]q name="udp")
input(type="imtcp" address="127.0.0.1" port=%[6]q name="tcp")
input(type="imtcp" address="127.0.0.1" port=%[7]q name="tls"
  streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="parsed" type="string"
  string="%%protocol-version%% %%hostname%% %%app-name%% %%procid%% %%msgid%% %%structured-data%% %%inputname%% %%msg%%\n")
action(type="omfile" file=%[8]q template="parsed")
`, dir, s.CAFile, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), udp, tcp, tlsPort, s.out)
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start(t)
	t.Cleanup(func() { s.stop() })
	return s
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a port nothing listens on now, so the configuration can name it and a
// restart can listen on it again. It is drawn below Linux's ephemeral range (32768-60999):
// a port the kernel hands out for port 0 can be taken, between this check and rsyslogd's
// bind, as the local port of any outgoing connection of the tests running in parallel.
func freePort(t testing.TB, network string) string {
	t.Helper()
	for range 200 {
		port := strconv.Itoa(20000 + rand.IntN(12000))
		addr := "127.0.0.1:" + port
		if network == "udp" {
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				continue
			}
			pc.Close()
		} else {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				continue
			}
			ln.Close()
		}
		return port
	}
	t.Fatalf("no free %s port below the ephemeral range after 200 tries", network)
	return ""
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	os.Remove(s.pidFile)
	var stderr bytes.Buffer
	s.cmd = exec.Command("rsyslogd", "-n", "-f", s.conf, "-i", s.pidFile)
	s.cmd.Stdout, s.cmd.Stderr = &stderr, &stderr
	s.done = make(chan struct{})
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting rsyslogd: %v", err)
	}
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.done)
	// Ready when both stream inputs accept (bounded: 30 s, generous for a loaded machine).
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range []string{s.TCPAddr, s.TLSAddr} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-s.done:
				t.Fatalf("rsyslogd exited at start: %s", stderr.String())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				s.stop()
				log, _ := os.ReadFile(s.out) // rsyslogd's own errors go to its action too
				t.Fatalf("rsyslogd not listening on %s after 30 s: %s%s", addr, stderr.String(), log)
			}
		}
	}
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done:
	default:
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Kill kills rsyslogd at once (SIGKILL): the collector disappears mid-stream.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.stop()
}

// Restart starts rsyslogd again with the same configuration and ports, appending to the same
// messages file.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.stop()
	s.start(t)
}

// Messages returns the messages received so far (the complete lines of the file).
func (s *Server) Messages(t testing.TB) []Message {
	t.Helper()
	data, err := os.ReadFile(s.out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	// rsyslog may be writing a line right now: only complete lines count.
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	var out []Message
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 8)
		if len(f) != 8 {
			t.Fatalf("rsyslog wrote a line of %d fields: %q", len(f), sc.Text())
		}
		out = append(out, Message{Version: f[0], Hostname: f[1], AppName: f[2], ProcID: f[3], MsgID: f[4], SD: f[5],
			Input: f[6], Msg: strings.TrimLeft(f[7], " ")})
	}
	return out
}

// WaitMessages waits (at most 15 s, polling the file) until n messages have arrived and
// returns all of them.
func (s *Server) WaitMessages(t testing.TB, n int) []Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		msgs := s.Messages(t)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslog received %d messages, want %d", len(msgs), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
