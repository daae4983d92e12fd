#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (once per machine) the AF_MQTT debug kernel: Debian's
# linux-source-6.1, "make tinyconfig" for x86_64 plus debug-kernel.config
# (KASAN, lockdep, kmemleak, debug objects, KUnit, fault injection, and
# virtio/9p built in).  The result is cached outside the repository in
#
#   ${MQTT_DEBUG_KERNEL_CACHE:-/var/cache/mqtt-debug-kernel}/KEY/
#     src/                 the unpacked kernel source
#     build/               O= output: full build, usable as module build
#                          tree (make -C build M=DIR), Module.symvers
#     bzImage              the kernel to boot
#     root/lib/modules/V/  modules_install output (modules.dep,
#                          modules.builtin) for run-vm.sh --modules
#     kernelrelease        V
#     complete             written last; without it the build is resumed
#
# KEY is a hash of the config fragment, this script, the linux-source-6.1
# package version and the compiler version.  The last line on stdout is the
# cache directory; everything else goes to stderr.  --check-only prints the
# directory and exits 0 if the build is complete, 1 if not.
#
# --kver RELEASE: the debug kernel of a kernel of the matrix (kernels.sh;
# amd64) instead: the linux-source-X.Y package of its Debian version,
# built in its build root with the compiler it was built with.  Fragment
# options that kernel's Kconfig no longer has (CONFIG_BASE_FULL, gone in
# 6.9) are reported and left out; for 6.1 every option must be set.

set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FRAGMENT=$VM_DIR/debug-kernel.config
CACHE_ROOT=${MQTT_DEBUG_KERNEL_CACHE:-/var/cache/mqtt-debug-kernel}
SRC_PKG=linux-source-6.1
SRC_TAR=/usr/src/linux-source-6.1.tar.xz
JOBS=${MQTT_DEBUG_KERNEL_JOBS:-$(nproc)}
BUILD_DEPS=(linux-source-6.1 build-essential bc bison flex libssl-dev
	    libelf-dev xz-utils cpio kmod)

log() {
	echo "debug-kernel.sh: $*" >&2
}

die() {
	log "ERROR: $*"
	exit 1
}

CHECK_ONLY=0
KVER=
while [ $# -gt 0 ]; do
	case $1 in
	--check-only)	CHECK_ONLY=1; shift ;;
	--kver)		[ $# -ge 2 ] || die "--kver needs a release"
			KVER=$2; shift 2 ;;
	*)		die "usage: ${0##*/} [--check-only] [--kver RELEASE]" ;;
	esac
done
KERNELS=$VM_DIR/kernels.sh

install_deps() {
	local installed pkg
	local -a missing=()

	installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' \
		"${BUILD_DEPS[@]}" 2>/dev/null || true)
	for pkg in "${BUILD_DEPS[@]}"; do
		grep -qx "$pkg installed" <<<"$installed" || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
	log "installing ${missing[*]}"
	apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}" >&2
}

[ $CHECK_ONLY = 1 ] || install_deps

if [ -n "$KVER" ]; then
	[[ $KVER == *-amd64 ]] || die "--kver: an amd64 kernel of the matrix"
	if [ $CHECK_ONLY = 1 ]; then
		SRC_TAR=$("$KERNELS" path "$KVER" source)
	else
		SRC_TAR=$("$KERNELS" source "$KVER")
	fi
	[ -r "$SRC_TAR" ] || die "no source of $KVER (kernels.sh source $KVER)"
	SRC_PKG="linux-source of $KVER"
	SRC_VER=$("$KERNELS" path "$KVER" source-version)
	CC=$("$KERNELS" path "$KVER" gcc)
else
	[ -r "$SRC_TAR" ] || die "$SRC_TAR missing (package $SRC_PKG)"
	SRC_VER=$(dpkg-query -W -f='${Version}' "$SRC_PKG" 2>/dev/null) ||
		die "$SRC_PKG is not installed"
	CC=gcc
fi

KEY=$({
	cat "$FRAGMENT" "${BASH_SOURCE[0]}"
	echo "$SRC_PKG $SRC_VER"
	if [ -n "$KVER" ]; then
		echo "$CC"
	else
		gcc --version | head -n 1
	fi
} | sha256sum | cut -c1-16)
DIR=$CACHE_ROOT/$KEY

if [ -e "$DIR/complete" ]; then
	log "reusing the cached debug kernel $(cat "$DIR/kernelrelease") in $DIR"
	echo "$DIR"
	exit 0
fi
if [ $CHECK_ONLY = 1 ]; then
	echo "$DIR"
	exit 1
fi

mkdir -p "$DIR"
exec 9>"$DIR.lock"
if ! flock -n 9; then
	log "another build of $DIR is running, waiting for it"
	flock 9
fi
if [ -e "$DIR/complete" ]; then
	log "reusing the debug kernel built meanwhile in $DIR"
	echo "$DIR"
	exit 0
fi

START=$SECONDS
SRC=$DIR/src
OUT=$DIR/build
KMAKE=(make -C "$SRC" O="$OUT" ARCH=x86_64)
# A matrix kernel: make runs in its build root, with its compiler.
[ -z "$KVER" ] || KMAKE=("$KERNELS" exec "$KVER" "$DIR" -- "${KMAKE[@]}" \
	CC="$CC" HOSTCC="$CC")

if [ ! -e "$SRC/.unpacked" ]; then
	log "unpacking $SRC_PKG $SRC_VER into $SRC"
	rm -rf "$SRC"
	mkdir -p "$SRC"
	tar -xf "$SRC_TAR" -C "$SRC" --strip-components=1 --no-same-owner
	touch "$SRC/.unpacked"
fi

log "configuring: tinyconfig + ${FRAGMENT##*/}"
mkdir -p "$OUT"
"${KMAKE[@]}" -s tinyconfig >&2
"$SRC/scripts/kconfig/merge_config.sh" -m -O "$OUT" "$OUT/.config" \
	"$FRAGMENT" >"$OUT/merge_config.log" 2>&1 ||
	{ cat "$OUT/merge_config.log" >&2; die "merge_config.sh failed"; }
"${KMAKE[@]}" -s olddefconfig >&2

# Every config symbol the source's Kconfig files define.
grep -rhoE --include='Kconfig*' '^[[:space:]]*(menu)?config [A-Z0-9_]+' \
	"$SRC" | awk '{ print "CONFIG_" $2 }' | sort -u >"$OUT/kconfig-symbols"

# olddefconfig silently drops options whose dependencies are not met:
# every line of the fragment must be in the final .config as written.
bad=0 left=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF "$line" "$OUT/.config" && continue
		if [ -n "$KVER" ] &&
		   ! grep -qxF "${line%%=*}" "$OUT/kconfig-symbols"; then
			log "$KVER has no ${line%%=*} (left out)"
			left=$((left + 1))
			continue
		fi
		log "requested $line, .config has:" \
			"$(grep -E "^(# )?${line%%=*}[= ]" "$OUT/.config" ||
				echo "nothing")"
		bad=1
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		grep -qE "^$opt=" "$OUT/.config" || continue
		log "requested $line, .config has: $(grep -E "^$opt=" "$OUT/.config")"
		bad=1
		;;
	esac
done <"$FRAGMENT"
[ $bad = 0 ] || die "the final .config lacks requested options (see above)"
log "$(($(grep -cE '^(CONFIG_|# CONFIG_.* is not set)' "$FRAGMENT") - left))" \
	"requested options are set, $left left out"

log "building with nice -n 10 make -j$JOBS (about 15 min on 2 cores)," \
	"log in $OUT/build.log"
if ! nice -n 10 "${KMAKE[@]}" -j"$JOBS" >"$OUT/build.log" 2>&1; then
	tail -n 40 "$OUT/build.log" >&2
	die "kernel build failed, see $OUT/build.log"
fi
# No loadable modules are configured: this still writes modules.dep and
# modules.builtin, which run-vm.sh reads.
rm -rf "$DIR/root"
"${KMAKE[@]}" -s INSTALL_MOD_PATH="$DIR/root" modules_install >&2
# The build's own record of its release: "make kernelrelease" run from
# another make prints that make's "Entering directory" lines too.
cp "$OUT/include/config/kernel.release" "$DIR/kernelrelease"
cp "$OUT/arch/x86/boot/bzImage" "$DIR/bzImage"
[ -s "$OUT/Module.symvers" ] || die "no Module.symvers in $OUT"
touch "$DIR/complete"
log "built $(cat "$DIR/kernelrelease") in $((SECONDS - START)) s: $DIR"
echo "$DIR"
