package clienthello

import (
	"bytes"
	"testing"
)

// BenchmarkRead reads a Go 1.26 default hello (about 1.5 KB with its X25519MLKEM768 share) into a
// reused buffer, as the proxy does per tunnel.
func BenchmarkRead(b *testing.B) {
	for _, bc := range []struct {
		name    string
		records int
	}{{"1-record", 1}, {"4-records", 4}} {
		b.Run(bc.name, func(b *testing.B) {
			raw := splitInto(b, goHello(b, goConfigs()["alpn"]), bc.records)
			br := bytes.NewReader(raw)
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				br.Reset(raw)
				info, got, err := Read(br, buf, DefaultMax)
				if err != nil || info.ServerName == "" {
					b.Fatal(err)
				}
				buf = got[:0]
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	msg := message(b, goHello(b, goConfigs()["alpn"]))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(msg); err != nil {
			b.Fatal(err)
		}
	}
}
