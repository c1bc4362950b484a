#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine: the real clients and servers the
# integration tests start. Go modules come through `go mod download`. Idempotent.
set -euo pipefail

packages=(curl openssl ca-certificates iproute2 procps)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	sudo=""
	[[ $(id -u) -eq 0 ]] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cd "$(dirname "$0")/.."
go mod download
