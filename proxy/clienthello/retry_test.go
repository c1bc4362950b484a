package clienthello

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"golang.org/x/crypto/cryptobyte"
)

// serverHello builds a ServerHello handshake message with the given random and extension bytes.
func serverHello(random []byte, exts []byte) []byte {
	var b cryptobyte.Builder
	b.AddUint8(handshakeTypeServerHello)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(0x0303)
		b.AddBytes(random)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
		b.AddUint16(0x1301)
		b.AddUint8(0)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(exts) })
	})
	return b.BytesOrPanic()
}

var (
	hrrExts  = []byte{0, 43, 0, 2, 3, 4, 0, 51, 0, 2, 0, 0x17} // supported_versions 1.3, key_share P-256
	hrrMsg   = serverHello(helloRetryRandom[:], hrrExts)
	plainMsg = serverHello(bytes.Repeat([]byte{7}, 32), hrrExts)
	ccs      = []byte{20, 3, 3, 0, 1, 1}
	// shortHRR claims fewer bytes than its own random
	shortHRR = append([]byte{handshakeTypeServerHello, 0, 0, 10}, hrrMsg[4:serverHelloStart]...)
)

func TestReadServerStart(t *testing.T) {
	after := []byte{20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 1, 'x'} // what a server sends next
	cases := []struct {
		name  string
		in    []byte
		retry bool
		raw   int // bytes consumed
		err   error
	}{
		{"server-hello", append(record(plainMsg), after...), false, 5 + serverHelloStart, nil},
		{"hrr", append(record(hrrMsg), after...), true, 5 + len(hrrMsg), nil},
		{"hrr-1-byte-records", append(records(t, record(hrrMsg), 1), after...), true, 6 * len(hrrMsg), nil},
		{"hrr-3-byte-records", records(t, record(hrrMsg), 3), true, len(records(t, record(hrrMsg), 3)), nil},
		{"alert", []byte{21, 3, 3, 0, 2, 2, 40}, false, 5, nil},
		{"not-tls", []byte("HTTP/1.1 200 OK\r\n\r\n"), false, 5, nil},
		{"other-handshake", record([]byte{11, 0, 0, 40, 1, 2, 3}), false, 5 + 7, nil},
		{"empty", nil, false, 0, io.EOF},
		{"short", record(plainMsg)[:20], false, 20, io.ErrUnexpectedEOF},
		{"hrr-cut", record(hrrMsg)[:50], true, 50, io.ErrUnexpectedEOF},
		{"hrr-then-alert", append(records(t, record(hrrMsg), 40)[:45], 21, 3, 3, 0, 2), true, 50, ErrMalformed},
		{"hrr-too-short", record(shortHRR), true, 5 + serverHelloStart, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// One byte per read: the reader takes exactly what it needs to decide.
			cr := &countingReader{r: iotest.OneByteReader(bytes.NewReader(c.in))}
			retry, raw, err := ReadServerStart(cr, nil, DefaultMax)
			if retry != c.retry || len(raw) != c.raw || !errors.Is(err, c.err) || (c.err == nil && err != nil) {
				t.Fatalf("retry %v, %d bytes, %v; want %v, %d, %v", retry, len(raw), err, c.retry, c.raw, c.err)
			}
			checkConsumed(t, c.in, raw, cr)
			// Whole reads into a buffer with room: it takes what each read gives (the rest of
			// the server's flight, for the client in the same write) and decides the same.
			cr = &countingReader{r: bytes.NewReader(c.in)}
			retry, raw, err = ReadServerStart(cr, make([]byte, 0, 4096), DefaultMax)
			if retry != c.retry || len(raw) != len(c.in) || !errors.Is(err, c.err) || (c.err == nil && err != nil) {
				t.Fatalf("whole reads: retry %v, %d bytes, %v; want %v, %d, %v", retry, len(raw), err, c.retry, len(c.in), c.err)
			}
			checkConsumed(t, c.in, raw, cr)
		})
	}
}

// TestReadServerStartRoom shows the reader taking no more than its buffer's room beyond what it
// needs: a read never grows the buffer for bytes the decision does not need.
func TestReadServerStartRoom(t *testing.T) {
	in := append(record(plainMsg), make([]byte, 8000)...)
	cr := &countingReader{r: bytes.NewReader(in)}
	retry, raw, err := ReadServerStart(cr, make([]byte, 0, 1024), DefaultMax)
	if retry || err != nil || len(raw) != 1024 || cap(raw) != 1024 {
		t.Fatalf("retry %v, %d bytes (cap %d), %v; want the 1024 bytes of the buffer's room", retry, len(raw), cap(raw), err)
	}
	checkConsumed(t, in, raw, cr)
}

func TestReadServerStartMax(t *testing.T) {
	big := serverHello(helloRetryRandom[:], append(bytes.Clone(hrrExts), 0, 44, 0x10, 0, 0x0f, 0xfe))
	big = append(big, make([]byte, 0x1000)...)
	big[2] += 0x10 // the handshake length covers the padding
	retry, raw, err := ReadServerStart(bytes.NewReader(record(big)), nil, 1000)
	if !retry || !errors.Is(err, ErrTooLarge) || len(raw) > 1000 {
		t.Fatalf("retry %v, %d bytes, %v; want ErrTooLarge within 1000 bytes", retry, len(raw), err)
	}
	// Empty handshake records forever are bounded by max as well.
	retry, raw, err = ReadServerStart(bytes.NewReader(bytes.Repeat([]byte{22, 3, 3, 0, 0}, 1000)), nil, 100)
	if retry || !errors.Is(err, ErrTooLarge) || len(raw) > 100 {
		t.Fatalf("empty records: retry %v, %d bytes, %v", retry, len(raw), err)
	}
}

func TestReadRetry(t *testing.T) {
	hello := record(synthHello([]ext{{extServerName, host("courier.push.apple.com")}}))
	early := []byte{23, 3, 3, 0, 3, 1, 2, 3}
	next := []byte{23, 3, 3, 0, 1, 'x'}
	cases := []struct {
		name string
		in   []byte
		raw  int
		err  error
	}{
		{"hello", append(bytes.Clone(hello), next...), len(hello), nil},
		{"ccs-hello", append(append(bytes.Clone(ccs), hello...), next...), len(ccs) + len(hello), nil},
		{"early-ccs-hello", append(append(append(bytes.Clone(early), ccs...), hello...), next...), len(early) + len(ccs) + len(hello), nil},
		{"split-hello", append(bytes.Clone(ccs), splitInto(t, hello, 3)...), len(ccs) + len(splitInto(t, hello, 3)), nil},
		{"alert", []byte{21, 3, 3, 0, 2, 2, 40}, 5, ErrMalformed},
		{"ccs-of-2", []byte{20, 3, 3, 0, 2, 1, 1}, 5, ErrMalformed},
		{"empty-early", []byte{23, 3, 3, 0, 0}, 5, ErrMalformed},
		{"eof", nil, 0, io.EOF},
		{"cut", append(bytes.Clone(ccs), hello[:30]...), len(ccs) + 30, io.ErrUnexpectedEOF},
		{"bad-hello", append(bytes.Clone(ccs), record([]byte{1, 0, 0, 1, 0})...), len(ccs) + 10, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(c.in)}
			info, raw, err := ReadRetry(cr, nil, DefaultMax)
			if len(raw) != c.raw || !errors.Is(err, c.err) || (c.err == nil && err != nil) {
				t.Fatalf("%d bytes, %v; want %d, %v", len(raw), err, c.raw, c.err)
			}
			checkConsumed(t, c.in, raw, cr)
			if err == nil && info.ServerName != "courier.push.apple.com" {
				t.Fatalf("server name %q", info.ServerName)
			}
		})
	}
}

func TestReadRetryMax(t *testing.T) {
	hello := record(synthHello([]ext{{extServerName, host("courier.push.apple.com")}}))
	early := append([]byte{23, 3, 3, 0x10, 0}, make([]byte, 0x1000)...)
	in := append(append(bytes.Clone(early), early...), hello...)
	for _, max := range []int{len(early) - 1, 2 * len(early), len(in) - 1} {
		_, raw, err := ReadRetry(bytes.NewReader(in), nil, max)
		if !errors.Is(err, ErrTooLarge) || len(raw) > max {
			t.Fatalf("max %d: %d bytes, %v; want ErrTooLarge", max, len(raw), err)
		}
	}
	if _, raw, err := ReadRetry(bytes.NewReader(in), nil, len(in)); err != nil || len(raw) != len(in) {
		t.Fatalf("at the limit: %d bytes, %v", len(raw), err)
	}
}

func FuzzReadServerStart(f *testing.F) {
	f.Add(record(hrrMsg), uint16(65535))
	f.Add(records(f, record(hrrMsg), 2), uint16(100))
	f.Add(record(plainMsg), uint16(65535))
	f.Add(append(bytes.Clone(ccs), record(synthHello(nil))...), uint16(65535))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		cr := &countingReader{r: bytes.NewReader(data)}
		retry, raw, err := ReadServerStart(cr, nil, int(limit))
		checkConsumed(t, data, raw, cr)
		if retry && err == nil {
			msg := bodies(raw)
			if len(msg) < serverHelloStart || msg[0] != handshakeTypeServerHello ||
				!bytes.Equal(msg[6:serverHelloStart], helloRetryRandom[:]) || len(raw) > int(limit) {
				t.Fatalf("retry from %x", raw)
			}
		}
		// Segmentation must not change the decision: one byte per read takes exactly what is
		// needed, whole reads into a roomy buffer take more, and both decide alike.
		cr1 := &countingReader{r: iotest.OneByteReader(bytes.NewReader(data))}
		retry1, raw1, err1 := ReadServerStart(cr1, nil, int(limit))
		checkConsumed(t, data, raw1, cr1)
		cr = &countingReader{r: bytes.NewReader(data)}
		retry2, raw2, err2 := ReadServerStart(cr, make([]byte, 0, 4096), int(limit))
		checkConsumed(t, data, raw2, cr)
		if retry1 != retry || retry2 != retry || errClass(err1) != errClass(err) || errClass(err2) != errClass(err) ||
			len(raw1) > len(raw2) || len(raw2) > max(int(limit), 4096) {
			t.Fatalf("segmentation changed the answer: %v %v %v / %v %v %v (%d, %d bytes)", retry, retry1, retry2,
				err, err1, err2, len(raw1), len(raw2))
		}
		// The second-hello reader must hold on any bytes too.
		cr = &countingReader{r: bytes.NewReader(data)}
		_, raw, _ = ReadRetry(cr, nil, int(limit))
		checkConsumed(t, data, raw, cr)
		if len(raw) > int(limit) {
			t.Fatalf("ReadRetry read %d bytes, limit %d", len(raw), limit)
		}
	})
}

// bodies concatenates the record bodies of raw, whose last record may be cut short: the server
// reader stops where the handshake message ends, not where its record does.
func bodies(raw []byte) []byte {
	var msg []byte
	for len(raw) >= 5 {
		n := min(int(raw[3])<<8|int(raw[4]), len(raw)-5)
		msg = append(msg, raw[5:5+n]...)
		raw = raw[5+n:]
	}
	return msg
}
