# mdmproxy. `make run` serves the embedded default policy on 127.0.0.1:3128; `make test` runs
# everything CI runs.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version_=$(VERSION) -X main.commit=$(COMMIT)
BIN     := bin/mdmproxy

.PHONY: build run test test-unit test-integration lint fuzz bench soak deps clean

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mdmproxy

run: build
	$(BIN) serve --listen 127.0.0.1:3128 --admin-listen 127.0.0.1:9090

deps:
	scripts/install-test-deps.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Unit tests (race detector on), the fuzz targets over their seed corpora, and the integration
# tests against the built binary.
test: lint build
	MDMPROXY_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -timeout 8m ./...

# Runs each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzRead$$' -fuzztime=$(FUZZTIME) ./proxy/clienthello/
	$(GO) test -run='^$$' -fuzz='^FuzzParseTarget$$' -fuzztime=$(FUZZTIME) ./allowlist/
	$(GO) test -run='^$$' -fuzz='^FuzzNormalizeName$$' -fuzztime=$(FUZZTIME) ./allowlist/
	$(GO) test -run='^$$' -fuzz='^FuzzParsePortRange$$' -fuzztime=$(FUZZTIME) ./allowlist/
	$(GO) test -run='^$$' -fuzz='^FuzzReadHead$$' -fuzztime=$(FUZZTIME) ./proxy/
	$(GO) test -run='^$$' -fuzz='^FuzzCheckPlainHead$$' -fuzztime=$(FUZZTIME) ./proxy/
	$(GO) test -run='^$$' -fuzz='^FuzzPlainConnFraming$$' -fuzztime=$(FUZZTIME) ./proxy/
	$(GO) test -run='^$$' -fuzz='^FuzzReadProxyHeader$$' -fuzztime=$(FUZZTIME) ./proxy/
	$(GO) test -run='^$$' -fuzz='^FuzzPlainHeadAsNetHTTP$$' -fuzztime=$(FUZZTIME) ./proxy/
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./proxy/clienthello/
	$(GO) test -run='^$$' -fuzz='^FuzzReadServerStart$$' -fuzztime=$(FUZZTIME) ./proxy/clienthello/
	$(GO) test -run='^$$' -fuzz='^FuzzLoad$$' -fuzztime=$(FUZZTIME) ./config/
	$(GO) test -run='^$$' -fuzz='^FuzzTextFormats$$' -fuzztime=$(FUZZTIME) ./events/
	$(GO) test -run='^$$' -fuzz='^FuzzJSONMatchesReference$$' -fuzztime=$(FUZZTIME) ./events/
	$(GO) test -run='^$$' -fuzz='^FuzzParseAnswers$$' -fuzztime=$(FUZZTIME) ./proxy/
	$(GO) test -run='^$$' -fuzz='^FuzzParseNameServers$$' -fuzztime=$(FUZZTIME) ./proxy/
	$(GO) test -run='^$$' -fuzz='^FuzzProxyFromRequest$$' -fuzztime=$(FUZZTIME) ./proxy/pac/
	$(GO) test -run='^$$' -fuzz='^FuzzSuggestion$$' -fuzztime=$(FUZZTIME) ./internal/status/
	$(GO) test -run='^$$' -fuzz='^FuzzSearch$$' -fuzztime=$(FUZZTIME) ./internal/status/

# The benchmark suite (bench/, issue #3): installs squid-openssl and haproxy if missing, then
# measures mdmproxy, Squid peek-and-splice and HAProxy against direct connections on loopback,
# loads and reloads a 10,000-rule configuration under load, runs the Go micro-benchmarks of the
# decision path, configuration loading, the ClientHello reader and event encoding, prints the
# table and writes docs/benchmarks.md. About 6 minutes on 2 cores. BENCHFLAGS passes flags to
# bin/benchrun (bin/benchrun -h).
BENCHFLAGS ?=
bench: build
	bench/install.sh
	$(GO) build -o bin/benchrun ./bench/cmd/benchrun
	ulimit -n $$(ulimit -Hn) && bin/benchrun -mdmproxy $(BIN) -out docs/benchmarks.md $(BENCHFLAGS)

# Optional, not part of bench: 8000 idle TLS tunnels through mdmproxy for 10 minutes, RSS and
# descriptors sampled every 30 s; fails on growth. SOAKFLAGS passes flags (-soak-duration, -idle-n).
SOAKFLAGS ?=
soak: build
	$(GO) build -o bin/benchrun ./bench/cmd/benchrun
	ulimit -n $$(ulimit -Hn) && bin/benchrun -soak -mdmproxy $(BIN) $(SOAKFLAGS)

clean:
	rm -rf bin
