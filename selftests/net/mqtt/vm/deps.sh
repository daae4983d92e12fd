#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian 12 packages the AF_MQTT VM runner and the module build
# need.  Idempotent: when every package is already installed it does not
# touch apt at all, so it is cheap to call before every run.

set -euo pipefail

PACKAGES=(
	qemu-system-x86
	linux-image-amd64
	linux-headers-amd64
	linux-source-6.1
	mosquitto
	mosquitto-clients
	libmosquitto-dev
	openssl
	libssl-dev
	busybox-static
	build-essential
	kmod
	cpio
	iproute2
	procps
)
# Callers add their own: "deps.sh libpaho-mqtt-dev" for the benchmark.
PACKAGES+=("$@")

# One dpkg-query for all packages; unknown packages only go to stderr.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' \
	"${PACKAGES[@]}" 2>/dev/null || true)

missing=()
for pkg in "${PACKAGES[@]}"; do
	grep -qx "$pkg installed" <<<"$installed" || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

echo "deps.sh: installing missing packages: ${missing[*]}" >&2

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2
		exit 1
	fi
fi

"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends "${missing[@]}"
