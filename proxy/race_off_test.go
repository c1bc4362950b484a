//go:build !race

package proxy

// raceEnabled is whether the race detector is on; it makes sync.Pool drop some of what it is given.
const raceEnabled = false
