//go:build !linux

package proxy

// newPumps returns the function that starts the two directions of t with the portable copy
// pump.
func newPumps(t *tunnel) (start func()) {
	return func() {
		go copyPump(t, t.client, t.origin, &t.up)
		go copyPump(t, t.origin, t.client, &t.down)
	}
}
