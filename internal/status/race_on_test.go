//go:build race

package status

// raceEnabled: the race detector slows map-heavy loops tenfold; the long tests feed less.
const raceEnabled = true
