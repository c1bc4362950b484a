package bench

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// The origin protocol, the same in plain TCP and inside TLS:
//
//	'B' len(8, big endian)  the origin sends len bytes
//	'P'                     the origin answers 'p'
//
// The origin serves commands until the client closes. A round trip is pingLen 'P's in one
// write, answered by as many 'p's: Squid needs a few bytes before it decides that a stream is
// not TLS and tunnels it.
const (
	opBulk  = 'B'
	opPing  = 'P'
	opPong  = 'p'
	pingLen = 8
)

// payload is what the origin streams: 1 MiB of random bytes, written again and again. Made on
// first use, so that only the origin process holds it.
var payload = sync.OnceValue(func() []byte {
	b := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{'m', 'd', 'm'})
	r.Read(b)
	return b
})

// Origin serves the plain and TLS listeners until they are closed.
type Origin struct {
	Plain, TLS net.Listener
	TLSConfig  *tls.Config
}

// NewOrigin listens on loopback ports chosen by the kernel.
func NewOrigin(cert tls.Certificate) (*Origin, error) { return NewOriginOn(cert, "127.0.0.1") }

// NewOriginOn listens on ports of host chosen by the kernel.
func NewOriginOn(cert tls.Certificate, host string) (*Origin, error) {
	pl, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	tl, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		pl.Close()
		return nil, err
	}
	return &Origin{
		Plain: pl, TLS: tl,
		// No session tickets: every client handshake is a full one, as a device's first
		// connection after a network change is.
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, SessionTicketsDisabled: true},
	}, nil
}

// Serve accepts on both listeners; it returns when both are closed.
func (o *Origin) Serve() {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); o.accept(o.Plain, false) }()
	go func() { defer wg.Done(); o.accept(o.TLS, true) }()
	wg.Wait()
}

func (o *Origin) accept(ln net.Listener, useTLS bool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // EMFILE and the like: keep serving what we have
			continue
		}
		go o.serve(c, useTLS)
	}
}

func (o *Origin) serve(c net.Conn, useTLS bool) {
	defer c.Close()
	var rw io.ReadWriter = c
	if useTLS {
		tc := tls.Server(c, o.TLSConfig)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		c.SetDeadline(time.Time{})
		rw = tc
	}
	br := bufio.NewReaderSize(rw, 512)
	var pongs [pingLen]byte
	for i := range pongs {
		pongs[i] = opPong
	}
	pending := 0
	var lenBuf [8]byte
	for {
		op, err := br.ReadByte()
		if err != nil {
			return
		}
		switch op {
		case opPing:
			// Answer the pings read so far in one write once nothing more is buffered.
			pending++
			if br.Buffered() == 0 || pending == len(pongs) {
				if _, err := rw.Write(pongs[:pending]); err != nil {
					return
				}
				pending = 0
			}
		case opBulk:
			if _, err := io.ReadFull(br, lenBuf[:]); err != nil {
				return
			}
			left := int64(binary.BigEndian.Uint64(lenBuf[:]))
			for left > 0 {
				chunk := payload()
				if int64(len(chunk)) > left {
					chunk = chunk[:left]
				}
				n, err := rw.Write(chunk)
				left -= int64(n)
				if err != nil {
					return
				}
			}
		default:
			return
		}
	}
}

// Close stops both listeners.
func (o *Origin) Close() {
	o.Plain.Close()
	o.TLS.Close()
}
