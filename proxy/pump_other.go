//go:build !linux

package proxy

// startPumps starts the two directions of t with the portable copy pump.
func startPumps(t *tunnel) {
	go copyPump(t, t.client, t.origin, &t.up)
	go copyPump(t, t.origin, t.client, &t.down)
}
