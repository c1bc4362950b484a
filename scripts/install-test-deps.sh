#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine: the real clients and servers the
# integration tests start. Go modules come through `go mod download`. Idempotent.
set -euo pipefail

# squid-openssl: the school's filter as upstream (issue 11); haproxy: PROXY protocol in front
# and `haproxy -c` of deploy/haproxy, systemd: `systemd-analyze verify` of deploy/systemd
# (issue 14); rsyslog and rsyslog-gnutls: the SIEM receiver (issue 13); python3-pacparser and
# chromium: real PAC engines and the status page (issues 12, 16); nftables: transparent
# interception in network namespaces (issue 15).
packages=(curl openssl ca-certificates iproute2 procps systemd
	squid-openssl haproxy rsyslog rsyslog-gnutls python3-pacparser chromium nftables)
sudo=""
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	[[ $(id -u) -eq 0 ]] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The packages' own daemons are not wanted: the tests start their own, on loopback or in
# namespaces they create, with generated configurations.
for svc in squid haproxy rsyslog; do
	if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
		$sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
	fi
done

cd "$(dirname "$0")/.."
go mod download
