#!/usr/bin/env bash
# Installs what `make bench` compares mdmproxy with: Squid built with OpenSSL (Debian's
# squid-openssl, needed for ssl-bump peek-and-splice; it conflicts with the plain squid package)
# and HAProxy (a bare TCP forwarder: the reference for forwarding alone). Idempotent; Debian or Ubuntu.
# The packages' own services are stopped and disabled: the suite starts its own instances, on
# loopback, with generated configurations.
set -euo pipefail

sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
installed squid-openssl || missing+=(squid-openssl)
installed haproxy || missing+=(haproxy)
installed openssl || missing+=(openssl)
if ((${#missing[@]} == 0)); then
	exit 0
fi

# A package list older than a day (or none) is refreshed first.
if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1) ]]; then
	$sudo apt-get update -qq
fi
# squid-openssl first (it replaces a plain squid if one is there), haproxy on its own so that a
# machine without it still benchmarks against Squid.
want=()
for p in "${missing[@]}"; do [[ $p == haproxy ]] || want+=("$p"); done
if ((${#want[@]})); then
	$sudo apt-get install -y -qq --no-install-recommends "${want[@]}"
fi
if [[ " ${missing[*]} " == *" haproxy "* ]]; then
	$sudo apt-get install -y -qq --no-install-recommends haproxy || echo "bench/install.sh: haproxy did not install; its reference row will be skipped" >&2
fi

# Stop the services the packages may have started (systemd, or sysvinit in a container).
for svc in squid haproxy; do
	if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
		$sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
	elif command -v service >/dev/null 2>&1; then
		$sudo service "$svc" stop >/dev/null 2>&1 || true
	fi
done
# A squid started by the package's init script and still running: by its pid file only.
for pidfile in /run/squid.pid /var/run/squid.pid /run/haproxy.pid; do
	if [[ -s $pidfile ]]; then
		pid=$(cat "$pidfile")
		$sudo kill "$pid" 2>/dev/null || true
	fi
done
exit 0
