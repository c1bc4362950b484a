// Package integration holds the end-to-end tests of mdmproxy: they build the real binary, start
// it as a subprocess with a generated configuration, and drive it with real clients (curl,
// openssl s_client, Go TLS clients) against origins the tests start on loopback.
//
// Run them with `go test -race -count=1 ./integration/`. Set MDMPROXY_BIN to test a binary built
// elsewhere (e.g. by `make build`), and MDMPROXY_RACE_BIN=1 to build the proxy with the race
// detector. curl and openssl must be installed: scripts/install-test-deps.sh installs them.
package integration
