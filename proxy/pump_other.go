//go:build !linux

package proxy

// newPumps returns the two directions of t with the portable copy pump: the function that
// starts the client-to-origin one on a goroutine, and the origin-to-client one, which the
// caller runs.
func newPumps(t *tunnel) (startUp, down func()) { return copyPumps(t) }
