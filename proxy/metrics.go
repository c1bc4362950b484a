package proxy

import "sync/atomic"

// Metrics are the server's counters, read by the admin endpoint.
type Metrics struct {
	Connections atomic.Int64 // connections accepted
	TunnelsOpen atomic.Int64 // spliced tunnels open now
	Spliced     atomic.Int64 // tunnels spliced
	Denied      atomic.Int64 // connections refused by policy or bad input
	Failed      atomic.Int64 // connections allowed but not established (resolve, dial)
	BytesUp     atomic.Int64 // bytes from clients through ended tunnels
	BytesDown   atomic.Int64 // bytes to clients through ended tunnels
	Panics      atomic.Int64 // connection goroutines and pumps that panicked and were recovered
}
