package events

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// This file is the syslog transport: RFC 5424 messages over UDP (RFC 5426,
// one message per datagram), TCP (RFC 6587 octet counting) and TLS (RFC
// 5425, octet counting). The standard library's log/syslog writes RFC 3164
// and blocks, and no maintained library fits, so the framing is here; it is
// small, and the tests check it against a real rsyslog.

// syslog transports.
const (
	transportUDP = "udp"
	transportTCP = "tcp"
	transportTLS = "tls"
)

// maxDatagram bounds a UDP message so that it is never fragmented: RFC 5426
// asks senders to keep to 1180 octets on IPv6 (1280-byte minimum MTU less
// headers), which also clears every IPv4 path with an MTU of 1280 or more.
// A fragment lost is a message lost, silently.
const maxDatagram = 1180

// syslogFacility is local0: the facility the documentation's collector
// examples filter on.
const syslogFacility = 16

// Back-off between connection attempts: from minBackoff, doubling to
// maxBackoff. A collector back after an outage is found within maxBackoff.
const (
	minBackoff   = 100 * time.Millisecond
	maxBackoff   = 5 * time.Second
	dialTimeout  = 5 * time.Second
	writeTimeout = 5 * time.Second
)

// errNotConnected is what a syslog output's records are lost to while its
// collector cannot be reached.
var errNotConnected = errors.New("collector not connected (reconnecting)")

// syslogSink ships records to a syslog collector. It never blocks the data
// path and never fails at start: a goroutine of its own (connectLoop) dials
// and redials with back-off, and write, called by the output's goroutine,
// ships records over the connection there is, or loses them (counted) when
// there is none.
type syslogSink struct {
	transport string // transportUDP, transportTCP or transportTLS
	addr      string // HOST:PORT
	tlsConf   *tls.Config
	// header is the part of the RFC 5424 header after the timestamp:
	// " HOSTNAME APP-NAME PROCID ", fixed for the process.
	header []byte

	mu      sync.Mutex
	conn    *syslogConn   // nil while not connected
	dialing chan struct{} // while a dial is in progress: closed when it ends; else nil
	stopped bool

	stop   chan struct{} // closed by close
	done   chan struct{} // closed when connectLoop has returned
	frame  []byte        // used by write only
	onDown func(error)   // told when a connection attempt fails after a success (or the first fails)
}

// syslogConn is one connection; broken is closed when it failed, by whoever
// noticed first (a write, or the watcher reading it).
type syslogConn struct {
	c        net.Conn
	once     sync.Once
	broken   chan struct{}
	datagram bool
}

func (c *syslogConn) fail() {
	c.once.Do(func() {
		close(c.broken)
		c.c.Close()
	})
}

// newSyslogSink starts the sink's connecting goroutine and returns at once.
func newSyslogSink(transport, addr string, tlsConf *tls.Config, hostname string, onDown func(error)) *syslogSink {
	s := &syslogSink{
		transport: transport, addr: addr, tlsConf: tlsConf,
		header: syslogHeader(hostname),
		stop:   make(chan struct{}), done: make(chan struct{}),
		onDown: onDown,
	}
	go s.connectLoop()
	return s
}

// syslogHeader is " HOSTNAME mdmproxy PROCID ": HOSTNAME cut to 255
// printable ASCII characters ("-" when there is none), as RFC 5424 says.
func syslogHeader(hostname string) []byte {
	h := []byte{' '}
	n := 0
	for i := 0; i < len(hostname) && n < 255; i++ {
		if c := hostname[i]; c > ' ' && c < 0x7f {
			h = append(h, c)
			n++
		}
	}
	if n == 0 {
		h = append(h, '-')
	}
	h = append(h, " mdmproxy "...)
	h = strconv.AppendInt(h, int64(os.Getpid()), 10)
	return append(h, ' ')
}

// maxMessage is the longest record (the MSG part, without newline) a UDP
// message can carry: maxDatagram less the longest header this sink writes.
func (s *syslogSink) maxMessage() int {
	if s.transport != transportUDP {
		return 0
	}
	// "<191>1 " + timestamp (27) + header + longest MSGID (8) + " - "
	return maxDatagram - (len("<191>1 ") + len("2006-01-02T15:04:05.000000Z") + len(s.header) + len("upstream") + len(" - "))
}

// connectLoop keeps one connection open: it dials, waits until the
// connection fails or the sink closes, and dials again, backing off while
// attempts fail. It runs on its own goroutine so that neither the data path
// nor the output's writer ever waits for a dial or a TLS handshake.
func (s *syslogSink) connectLoop() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-s.stop; cancel() }()

	backoff := minBackoff
	reported := false // onDown told about the current outage
	for {
		dialing := make(chan struct{})
		s.mu.Lock()
		s.dialing = dialing
		s.mu.Unlock()
		c, err := s.dial(ctx)
		if err != nil {
			s.endDial(dialing, nil)
			if !reported && s.onDown != nil && ctx.Err() == nil {
				s.onDown(err)
			}
			reported = true
			select {
			case <-s.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff, reported = minBackoff, false
		sc := &syslogConn{c: c, broken: make(chan struct{}), datagram: s.transport == transportUDP}
		if !s.endDial(dialing, sc) {
			c.Close()
			return
		}

		if !sc.datagram {
			go watchConn(sc)
		}
		select {
		case <-s.stop:
			sc.fail()
			return
		case <-sc.broken:
		}
		s.mu.Lock()
		if s.conn == sc {
			s.conn = nil
		}
		s.mu.Unlock()
		// Not straight back: a collector that accepts and resets at once
		// would otherwise be dialled in a tight loop.
		select {
		case <-s.stop:
			return
		case <-time.After(minBackoff):
		}
	}
}

// endDial records the end of a dial attempt: sc is the new connection, or nil when the
// attempt failed. It reports false when the sink was closed meanwhile.
func (s *syslogSink) endDial(dialing chan struct{}, sc *syslogConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dialing = nil
	close(dialing)
	if s.stopped {
		return false
	}
	if sc != nil {
		s.conn = sc
	}
	return true
}

// current returns the connection; while a dial is in progress (at start, or just after the
// collector went away) it waits for that attempt, so that the events of those moments are
// not lost to a connection about to be there. It waits on the output's goroutine, never on
// the data path; during back-off it does not wait at all.
func (s *syslogSink) current() *syslogConn {
	s.mu.Lock()
	sc, dialing := s.conn, s.dialing
	s.mu.Unlock()
	if sc != nil || dialing == nil {
		return sc
	}
	select {
	case <-dialing:
	case <-s.stop:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// watchConn reads a stream connection until it fails: collectors send
// nothing, so a read returns only when the collector closed or reset the
// connection, which a write would notice only one record later, with that
// record lost as if written.
func watchConn(sc *syslogConn) {
	var b [512]byte
	for {
		if _, err := sc.c.Read(b[:]); err != nil {
			sc.fail()
			return
		}
	}
}

func (s *syslogSink) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	switch s.transport {
	case transportUDP:
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.addr)
	case transportTLS:
		d := tls.Dialer{Config: s.tlsConf}
		return d.DialContext(ctx, "tcp", s.addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.addr)
}

// write frames each record as an RFC 5424 message and sends it: a datagram
// each over UDP; octet-counted frames over TCP and TLS, those of one call
// in one write.
func (s *syslogSink) write(recs []*buffer) (int, error) {
	sc := s.current()
	if sc == nil {
		return 0, errNotConnected
	}
	if sc.datagram {
		for i, r := range recs {
			s.frame = appendSyslogMessage(s.frame[:0], r, s.header)
			if len(s.frame) > maxDatagram {
				// Emit shortens records for this output; one still too
				// long is lost rather than fragmented.
				return i, errors.New("record too long for one datagram")
			}
			if _, err := sc.c.Write(s.frame); err != nil {
				sc.fail()
				return i, err
			}
		}
		return len(recs), nil
	}
	s.frame = s.frame[:0]
	for _, r := range recs {
		start := len(s.frame)
		// Octet counting: "LEN SP MSG", LEN the octets of MSG. The header
		// is built after a placeholder, then the length put in front.
		s.frame = appendSyslogMessage(s.frame, r, s.header)
		msg := len(s.frame) - start
		var lenBuf [20]byte
		prefix := append(strconv.AppendInt(lenBuf[:0], int64(msg), 10), ' ')
		s.frame = append(s.frame, prefix...)
		copy(s.frame[start+len(prefix):], s.frame[start:start+msg])
		copy(s.frame[start:], prefix)
	}
	sc.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := sc.c.Write(s.frame); err != nil {
		sc.fail()
		return 0, err
	}
	if cap(s.frame) > 2*maxBatch {
		s.frame = nil
	}
	return len(recs), nil
}

// appendSyslogMessage appends the RFC 5424 message for r: PRI, version,
// timestamp (UTC, microseconds: the most RFC 5424 allows), the fixed header,
// MSGID (the event's action), no structured data, and the record without
// its newline as MSG.
func appendSyslogMessage(dst []byte, r *buffer, header []byte) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(syslogFacility*8+syslogSeverity(r.level)), 10)
	dst = append(dst, ">1 "...)
	dst = appendSyslogTime(dst, r.time)
	dst = append(dst, header...)
	if r.msgid == "" {
		dst = append(dst, '-')
	} else {
		dst = append(dst, r.msgid...)
	}
	dst = append(dst, " - "...)
	msg := r.b
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	return append(dst, msg...)
}

// syslogSeverity maps an event level to an RFC 5424 severity.
func syslogSeverity(l Level) int {
	switch l {
	case LevelError:
		return 3
	case LevelWarn:
		return 4
	case LevelDebug:
		return 7
	}
	return 6 // informational
}

// appendSyslogTime appends t in UTC with six fractional digits.
func appendSyslogTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z")
}

func (s *syslogSink) reopen() error { return nil }

// close stops the connecting goroutine and closes the connection.
func (s *syslogSink) close() error {
	s.mu.Lock()
	s.stopped = true
	sc := s.conn
	s.conn = nil
	s.mu.Unlock()
	close(s.stop)
	if sc != nil {
		sc.fail()
	}
	<-s.done
	return nil
}
