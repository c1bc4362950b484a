package clienthello

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var writeCorpus = flag.Bool("write-fuzz-corpus", false, "rewrite testdata/fuzz/FuzzRead from fuzzSeeds")

// fuzzSeed is one FuzzRead input.
type fuzzSeed struct {
	name  string
	data  []byte
	limit uint16
	chunk uint8 // the reader returns at most chunk+1 bytes per Read
}

// fuzzSeeds covers each way into Read: real Go hellos (whole and re-fragmented), a small synthetic
// hello with every decoded extension, trailing early data, truncation and non-TLS bytes.
func fuzzSeeds(tb testing.TB) []fuzzSeed {
	cfgs := goConfigs()
	def := goHello(tb, cfgs["default"])
	alpn := goHello(tb, cfgs["alpn"])
	small := record(synthHello([]ext{
		{0, host("mdm.example.org")}, {16, alpnExt("h2")}, {43, []byte{2, 3, 4}},
		{51, keyShareExt(4, 0x001d)}, {0xfe0d, []byte{0}},
	}))
	return []fuzzSeed{
		{"go-default", def, 65535, 0},
		{"go-alpn-3-records", splitInto(tb, alpn, 3), 65535, 99},
		{"go-no-sni", goHello(tb, cfgs["no-sni"]), 65535, 255},
		{"small", small, 65535, 0},
		{"small-header-split", records(tb, small, 1, 2, 7), 65535, 2},
		{"small-early-data", append(bytes.Clone(small), 0x17, 3, 3, 0, 1, 'x'), 65535, 7},
		{"small-at-limit", small, uint16(len(small)), 0},
		{"small-truncated", small[:len(small)/2], 65535, 4},
		{"no-extensions", record(synthHello(nil)), 65535, 0},
		{"http", []byte("GET / HTTP/1.1\r\n\r\n"), 65535, 255},
	}
}

func FuzzRead(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.data, s.limit, s.chunk)
	}
	f.Fuzz(func(t *testing.T, data []byte, limit uint16, chunk uint8) {
		cr := &countingReader{r: bytes.NewReader(data)}
		info, raw, err := Read(cr, nil, int(limit))
		checkConsumed(t, data, raw, cr)
		if len(raw) > int(limit) {
			t.Fatalf("read %d bytes, limit %d", len(raw), limit)
		}
		// Segmentation must not matter: short reads (chunk 0: one byte per Read) give the same answer.
		// The fuzzer picks the chunk size; always one byte would make each run (and so the minimising
		// of every new input) slow.
		seg := &chunkReader{r: bytes.NewReader(data), max: int(chunk) + 1}
		info1, raw1, err1 := Read(seg, make([]byte, 0, 3), int(limit))
		if !bytes.Equal(raw, raw1) || !equalInfo(info, info1) || errClass(err) != errClass(err1) {
			t.Fatalf("whole vs %d-byte reads differ: %d/%d bytes, %v / %v", chunk+1, len(raw), len(raw1), err, err1)
		}
		if err != nil {
			if errClass(err) == "" {
				t.Fatalf("unexpected error %v", err)
			}
			if errors.Is(err, ErrNotTLS) && len(raw) != 1 {
				t.Fatalf("ErrNotTLS after %d bytes", len(raw))
			}
			if !equalInfo(info, Info{}) {
				t.Fatalf("error %v with info %+v", err, info)
			}
			return
		}
		msg, ok := refMessage(raw)
		if !ok {
			t.Fatalf("accepted bytes that are not whole handshake records: %x", raw)
		}
		checkInfo(t, msg, info)
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if msg, ok := refMessage(s.data); ok {
			f.Add(msg)
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		info, err := Parse(msg)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || !equalInfo(info, Info{}) {
				t.Fatalf("error %v, info %+v", err, info)
			}
			return
		}
		checkInfo(t, msg, info)
		// Whatever Parse accepts, Read accepts in one record with the same result.
		if len(msg) <= maxPlaintext {
			info2, _, err := Read(bytes.NewReader(record(msg)), nil, DefaultMax)
			if err != nil || !equalInfo(info, info2) {
				t.Fatalf("Read of the same hello: %+v, %v", info2, err)
			}
		}
	})
}

// checkInfo holds an accepted hello's Info against a reference decoder that shares no code with Parse.
func checkInfo(t *testing.T, msg []byte, info Info) {
	t.Helper()
	again, err := Parse(msg)
	if err != nil || !equalInfo(info, again) {
		t.Fatalf("Parse of the reassembled message: %+v, %v; Read said %+v", again, err, info)
	}
	sni, present := refSNI(msg)
	if info.ServerName != sni || (info.ServerName != "") != present {
		t.Fatalf("ServerName %q, reference decoder %q (present %v)", info.ServerName, sni, present)
	}
	for _, c := range []byte(info.ServerName) {
		if c < 0x21 || c > 0x7e {
			t.Fatalf("ServerName %q has byte %#x", info.ServerName, c)
		}
	}
}

// errClass names the error kinds Read may return; "" for anything else.
func errClass(err error) string {
	for _, e := range []error{ErrNotTLS, ErrTooLarge, ErrMalformed, io.ErrUnexpectedEOF, io.EOF} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err == nil {
		return "nil"
	}
	return ""
}

// refMessage reassembles handshake records with plain indexing, as a reference for Read. It reports
// false unless raw is a whole number of handshake records.
func refMessage(raw []byte) ([]byte, bool) {
	var msg []byte
	for len(raw) > 0 {
		if len(raw) < 5 || raw[0] != 22 {
			return nil, false
		}
		n := int(raw[3])<<8 | int(raw[4])
		if len(raw) < 5+n {
			return nil, false
		}
		msg = append(msg, raw[5:5+n]...)
		raw = raw[5+n:]
	}
	return msg, len(msg) > 0
}

// refSNI finds the first host_name of the server_name extension with plain indexing, as a reference
// for Parse. It assumes msg is well-formed (Parse accepted it).
func refSNI(msg []byte) (string, bool) {
	u16 := func(b []byte) int { return int(b[0])<<8 | int(b[1]) }
	p := 4 + 2 + 32       // handshake header, legacy_version, random
	p += 1 + int(msg[p])  // session id
	p += 2 + u16(msg[p:]) // cipher suites
	p += 1 + int(msg[p])  // compression methods
	if p == len(msg) {
		return "", false
	}
	end := p + 2 + u16(msg[p:])
	for p += 2; p < end; {
		typ, n := u16(msg[p:]), u16(msg[p+2:])
		data := msg[p+4 : p+4+n]
		p += 4 + n
		if typ != 0 {
			continue
		}
		for q := 2; q < len(data); {
			nameType, l := data[q], u16(data[q+1:])
			if nameType == 0 {
				return string(data[q+3 : q+3+l]), true
			}
			q += 3 + l
		}
		return "", true
	}
	return "", false
}

// TestWriteFuzzCorpus regenerates the committed seed files (go test -run WriteFuzzCorpus
// -write-fuzz-corpus); the same seeds are also added in code, so the corpus files are a convenience
// for `go test -fuzz` runs and for tools that read testdata.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-fuzz-corpus to rewrite testdata/fuzz/FuzzRead")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range fuzzSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(%d)\nuint8(%d)\n", s.data, s.limit, s.chunk)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// chunkReader returns at most max bytes per Read, like a connection delivering small segments.
type chunkReader struct {
	r   io.Reader
	max int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), c.max)])
}
