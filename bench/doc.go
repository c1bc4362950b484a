// Package bench is mdmproxy's end-to-end benchmark suite: it measures mdmproxy against a
// direct connection, Squid with ssl-bump peek-and-splice, and HAProxy as a bare TCP forwarder
// (the reference for forwarding alone: no CONNECT, no SNI), all on loopback, and writes
// docs/benchmarks.md.
//
// `make bench` runs it through bench/cmd/benchrun; `make soak` holds idle tunnels for ten
// minutes and reports growth. Nothing here runs under `make test` except the unit tests of the
// statistics and the report, which assert no timing.
//
// One run starts every process it uses and stops them all:
//
//   - an origin process (benchrun origin): a plain TCP and a TLS server speaking a tiny
//     protocol: 'B' and an 8-byte big-endian length asks for that many bytes, 'P' is answered
//     with 'p' (a round trip);
//   - mdmproxy (the built binary) with a generated configuration whose rules splice the origins;
//   - squid -N with a generated squid.conf (peek at step 1, splice on ssl::server_name);
//   - haproxy -db in mode tcp, splicing both directions.
//
// The clients are Go code in the runner: crypto/tls with Go's default, post-quantum
// ClientHello, speaking CONNECT themselves. Runs are interleaved (each round runs every
// target once, the order rotating) and medians are reported, because a 2-core machine that
// runs client, proxy and origin at once is noisy.
package bench
