#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The kernel matrix: every kernel Debian ships, from bookworm's to
# experimental's, fetched from the Debian mirror this machine already uses
# and kept in a cache outside the repository.  Nothing is installed: the
# packages are downloaded with a private apt configuration (its own
# sources list, state and cache) and unpacked with dpkg-deb -x.
#
#   kernels.sh list              the matrix, one kernel release a line
#                                (the installed bookworm kernel first);
#                                the newest kernel of each release, read
#                                from the mirror's package lists
#   kernels.sh fetch RELEASE     download and unpack that kernel and its
#                                build root; prints nothing
#   kernels.sh path RELEASE WHAT the kernel image (WHAT=kernel), its module
#                                tree (modules) or, for a matrix kernel,
#                                "matrix"; exit 1 for an unknown release
#   kernels.sh build RELEASE DIR [MAKE ARGS]
#                                build the module in DIR (a copy of the
#                                sources) for that kernel, in its build
#                                root, with the compiler the kernel was
#                                built with
#
# Cache layout ($MQTT_KERNEL_CACHE, default /var/cache/mqtt-kernels):
#   apt/                 the private apt configuration and its lists
#   <release>/debs/      the downloaded packages
#   <release>/root/      image and modules unpacked (lib/modules/<release>)
#   <release>/vmlinuz    the kernel image the VM boots
#   <release>/buildroot  the name of the build root the module builds in
#   roots/<suite>/       an mmdebstrap build root of that Debian release,
#                        with each kernel's headers and kbuild unpacked at
#                        their real paths (their Makefiles include
#                        /usr/src/linux-headers-*-common by absolute path)
#
# Why build roots: a kernel module must be built with the compiler the
# kernel was (its CONFIG_CC_VERSION_TEXT).  bookworm's gcc-12 cannot build
# against 6.12+ headers of trixie (gcc-14) or sid (gcc-16), and the newer
# kbuild tools (modpost, objtool) need a newer glibc than bookworm's.  The
# build root of the release the kernel comes from has both.

set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MQTT_KERNEL_CACHE:-/var/cache/mqtt-kernels}
APTDIR=$CACHE/apt
ARCH=amd64

# Releases of the matrix past bookworm; trixie's kernel may come from its
# -updates or -security suite, so each release lists the suites it reads.
RELEASES=(bookworm-backports trixie sid experimental)
declare -A SUITES=(
	[bookworm-backports]="bookworm-backports"
	[trixie]="trixie trixie-updates trixie-security"
	[sid]="sid"
	[experimental]="experimental"
)
# The Debian release whose user space builds a kernel's modules:
# experimental has no complete user space of its own.
declare -A ROOT_SUITE=(
	[bookworm-backports]=bookworm
	[trixie]=trixie
	[sid]=sid
	[experimental]=sid
)

die() {
	echo "kernels.sh: $*" >&2
	exit 2
}

log() {
	echo "kernels.sh: $*" >&2
}

# The mirrors of this machine's own apt sources: the Debian archive and
# the security archive, as apt itself reads them.
mirror_of() {
	apt-get indextargets --format '$(REPO_URI) $(CODENAME)' \
		'Created-By: Packages' 2>/dev/null |
		awk -v c="$1" '$2 == c { print $1; exit }'
}

apt_private() {
	APT_CONFIG=$APTDIR/apt.conf apt-get -q -o Debug::NoLocking=1 "$@"
}

apt_cache_private() {
	APT_CONFIG=$APTDIR/apt.conf apt-cache "$@"
}

# Write the private configuration; update its lists at most once an hour
# (MQTT_KERNELS_UPDATE=1 forces it) so the matrix follows Debian.
apt_setup() {
	local main sec stamp=$APTDIR/updated

	main=$(mirror_of bookworm)
	sec=$(mirror_of bookworm-security)
	[ -n "$main" ] || die "no Debian mirror for bookworm in this machine's apt sources"
	[ -n "$sec" ] || sec=${main%/debian/}/debian-security/

	mkdir -p "$APTDIR"/{etc/apt.conf.d,etc/sources.list.d,etc/preferences.d,etc/trusted.gpg.d,state/lists/partial,cache/archives/partial}
	cat >"$APTDIR/etc/debian.sources.new" <<-EOF
	# Written by kernels.sh: the mirrors of /etc/apt, other releases.
	Types: deb
	URIs: $main
	Suites: bookworm-backports trixie trixie-updates sid experimental
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

	Types: deb
	URIs: $sec
	Suites: trixie-security
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	if ! cmp -s "$APTDIR/etc/debian.sources.new" "$APTDIR/etc/sources.list.d/debian.sources"; then
		mv "$APTDIR/etc/debian.sources.new" "$APTDIR/etc/sources.list.d/debian.sources"
		rm -f "$stamp"
	else
		rm -f "$APTDIR/etc/debian.sources.new"
	fi
	# sid's Release file can be past its Valid-Until date on a mirror.
	cat >"$APTDIR/apt.conf" <<-EOF
	Dir::Etc "$APTDIR/etc";
	Dir::Etc::sourcelist "$APTDIR/etc/sources.list";
	Dir::Etc::sourceparts "$APTDIR/etc/sources.list.d";
	Dir::Etc::parts "$APTDIR/etc/apt.conf.d";
	Dir::Etc::preferencesparts "$APTDIR/etc/preferences.d";
	Dir::Etc::trustedparts "$APTDIR/etc/trusted.gpg.d";
	Dir::State "$APTDIR/state";
	Dir::State::status "/dev/null";
	Dir::Cache "$APTDIR/cache";
	APT::Architecture "$ARCH";
	APT::Architectures { "$ARCH"; };
	Acquire::Languages "none";
	APT::Sandbox::User "root";
	Acquire::Check-Valid-Until "false";
	EOF
	if [ "${MQTT_KERNELS_UPDATE:-0}" = 1 ] || [ ! -e "$stamp" ] ||
	   [ -n "$(find "$stamp" -mmin +60)" ]; then
		log "updating the package lists of ${RELEASES[*]}"
		apt_private update >&2
		touch "$stamp"
	fi
}

# The newest linux-headers-<release>-amd64 of a matrix release, as its
# kernel release string (uname -r).
newest_of() {
	local rel=$1 suite f

	for suite in ${SUITES[$rel]}; do
		for f in "$APTDIR"/state/lists/*_dists_"${suite}"_main_binary-${ARCH}_Packages; do
			[ -e "$f" ] || continue
			sed -n "s/^Package: linux-headers-\([0-9][^ ]*[0-9]-${ARCH}\)$/\1/p" "$f"
		done
	done | sort -V | tail -n 1
}

installed_kernel() {
	local v

	for v in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V -r); do
		[ -e "/lib/modules/$v/build/Makefile" ] && { echo "$v"; return; }
	done
}

cmd_list() {
	local rel v seen=" "

	apt_setup
	v=$(installed_kernel)
	[ -z "$v" ] || { echo "$v"; seen+="$v "; }
	for rel in "${RELEASES[@]}"; do
		v=$(newest_of "$rel")
		if [ -z "$v" ]; then
			log "no kernel found for $rel"
			continue
		fi
		[[ $seen == *" $v "* ]] || echo "$v"
		seen+="$v "
	done
}

# Which matrix release ships kernel release $1 (newest first wins).
release_of() {
	local v=$1 rel suite f

	for rel in "${RELEASES[@]}"; do
		for suite in ${SUITES[$rel]}; do
			for f in "$APTDIR"/state/lists/*_dists_"${suite}"_main_binary-${ARCH}_Packages; do
				[ -e "$f" ] || continue
				if grep -qx "Package: linux-headers-$v" "$f"; then
					echo "$rel"
					return
				fi
			done
		done
	done
}

# dpkg-deb -x, but keeping a merged-/usr root's /lib symlink: the
# headers package ships /lib/modules/<release>/build.
unpack() {
	dpkg-deb --fsys-tarfile "$1" | tar -x --keep-directory-symlink -C "$2"
}

# A package's Depends that name linux-headers-* or linux-kbuild-*.
header_deps() {
	apt_cache_private depends --no-recommends --no-suggests "$1" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-\(headers\|kbuild\)-[^ ]*\).*/\1/p'
}

# Make a build root of Debian release $1: the compiler $2 (gcc-N), the
# tools kbuild runs (pahole for BTF: 6.12+ headers ship a vmlinux; perl
# for W=1's kernel-doc) and sparse.  mmdebstrap is given the machine's
# apt environment, not the private one.
build_root() {
	local suite=$1 gcc=$2 dir=$CACHE/roots/$1 main

	if [ -e "$dir/.complete" ]; then
		if chroot "$dir" sh -c "command -v $gcc" >/dev/null 2>&1; then
			return
		fi
		log "build root $suite has no $gcc; adding it"
		env -u APT_CONFIG chroot "$dir" apt-get -q install -y \
			--no-install-recommends "$gcc" >&2
		return
	fi
	main=$(mirror_of bookworm)
	"$VM_DIR/deps.sh" mmdebstrap >&2
	log "making the $suite build root ($gcc) in $dir"
	rm -rf "$dir"
	mkdir -p "$CACHE/roots"
	env -u APT_CONFIG mmdebstrap --variant=minbase --quiet \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--include="make,$gcc,binutils,libc6-dev,libelf-dev,libssl-dev,dwarves,perl,sparse,bc,bison,flex,kmod,xz-utils" \
		"$suite" "$dir" "$main" >&2
	ln -sf "/usr/bin/$gcc" "$dir/usr/local/bin/gcc"
	touch "$dir/.complete"
}

cmd_fetch() {
	local v=$1 dir=$CACHE/$1 rel pkgs p gcc suite root img mods

	[ -e "$dir/.complete" ] && return
	apt_setup
	rel=$(release_of "$v")
	[ -n "$rel" ] || die "$v is not a kernel of ${RELEASES[*]} on the mirror"
	log "fetching $v ($rel) into $dir"
	rm -rf "$dir"
	mkdir -p "$dir/debs" "$dir/root"

	# bookworm and trixie: linux-image-X(-unsigned) has the kernel and
	# its modules.  sid and experimental: linux-binary-unsigned-X the
	# kernel, linux-modules-X the modules, linux-base-X the config.
	pkgs=("linux-headers-$v")
	mapfile -t -O ${#pkgs[@]} pkgs < <(header_deps "linux-headers-$v")
	for p in "linux-image-$v-unsigned" "linux-binary-unsigned-$v" \
		 "linux-modules-$v" "linux-base-$v"; do
		apt_cache_private show "$p" >/dev/null 2>&1 && pkgs+=("$p")
	done
	[[ " ${pkgs[*]} " == *" linux-image-$v-unsigned "* ]] ||
	[[ " ${pkgs[*]} " == *" linux-binary-unsigned-$v "* ]] ||
		pkgs+=("linux-image-$v")
	(cd "$dir/debs" && apt_private download "${pkgs[@]}" >&2)

	for p in "$dir"/debs/*.deb; do
		case ${p##*/} in
		linux-headers-*|linux-kbuild-*) ;;
		*) unpack "$p" "$dir/root" ;;
		esac
	done
	# merged /usr: modules may be under usr/lib/modules only.
	if [ ! -e "$dir/root/lib/modules/$v" ] && [ -d "$dir/root/usr/lib/modules/$v" ]; then
		mkdir -p "$dir/root/lib/modules"
		ln -s "../../usr/lib/modules/$v" "$dir/root/lib/modules/$v"
	fi
	mods=$dir/root/lib/modules/$v
	[ -d "$mods" ] || die "$v: no modules in its packages"
	for img in "$dir/root/boot/vmlinuz-$v" "$mods/vmlinuz.unsigned" "$mods/vmlinuz"; do
		[ -e "$img" ] && { ln -sf "$img" "$dir/vmlinuz"; break; }
	done
	[ -e "$dir/vmlinuz" ] || die "$v: no kernel image in its packages"
	/sbin/depmod -b "$dir/root" "$v"

	# The build root: the release's user space with the kernel's gcc.
	gcc=$(dpkg-deb --fsys-tarfile "$dir/debs/linux-headers-${v}_"*.deb |
		tar -xO "./usr/src/linux-headers-$v/.config" |
		sed -n 's/^CONFIG_CC_VERSION_TEXT="[^ ]*\(gcc-[0-9]*\) .*/\1/p')
	[ -n "$gcc" ] || gcc=gcc
	suite=${ROOT_SUITE[$rel]}
	build_root "$suite" "$gcc"
	root=$CACHE/roots/$suite
	for p in "$dir"/debs/linux-headers-*.deb "$dir"/debs/linux-kbuild-*.deb; do
		unpack "$p" "$root"
	done
	echo "$rel" >"$dir/release"
	echo "$suite" >"$dir/buildroot"
	echo "$gcc" >"$dir/gcc"
	touch "$dir/.complete"
}

cmd_path() {
	local v=$1 what=$2

	if [ -e "/lib/modules/$v/build/Makefile" ]; then
		case $what in
		kernel)	echo "/boot/vmlinuz-$v" ;;
		modules) echo "/lib/modules/$v" ;;
		matrix)	echo "" ;;
		esac
		return
	fi
	case $what in
	kernel)	echo "$CACHE/$v/vmlinuz" ;;
	modules) echo "$CACHE/$v/root/lib/modules/$v" ;;
	matrix)	echo "$v" ;;
	*)	die "path: kernel, modules or matrix" ;;
	esac
}

# Since 6.15 C= runs scripts/checker-valid.sh, which Debian's headers
# packages leave out: without it kbuild turns sparse off with a warning.
# Put one in the build root (not the repository) that does what that
# script is for: print 1 when the checker runs and parses
# __typeof_unqual__, which the kernel's headers use since.
checker_valid() {
	local common=$1/usr/src/linux-headers-${2%-$ARCH}-common

	grep -qs checker-valid.sh "$common/Makefile" || return 0
	[ ! -e "$common/scripts/checker-valid.sh" ] || return 0
	cat >"$common/scripts/checker-valid.sh" <<-'EOF'
	#!/bin/sh
	# Written by mqtt's kernels.sh: Debian's headers lack this script.
	command -v "$1" >/dev/null 2>&1 || { echo 0; exit 0; }
	t=$(mktemp --suffix=.c) || exit 1
	trap 'rm -f "$t"' EXIT
	printf 'static inline int u(const int *q) { __typeof_unqual__(*q) v = *q; return v; }\n' >"$t"
	if "$@" "$t" 2>&1 | grep -q error; then echo 0; else echo 1; fi
	EOF
	chmod +x "$common/scripts/checker-valid.sh"
}

# Build in a private mount namespace: the build root sees /dev, /proc and
# the copy of the sources at /mnt/mqtt, nothing else of the machine.
cmd_build() {
	local v=$1 src=$2 root gcc

	shift 2
	cmd_fetch "$v"
	root=$CACHE/roots/$(cat "$CACHE/$v/buildroot")
	gcc=$(cat "$CACHE/$v/gcc")
	checker_valid "$root" "$v"
	src=$(realpath "$src")
	echo "kernels.sh: building for $v in the $(cat "$CACHE/$v/buildroot") build root with $gcc" >&2
	mkdir -p "$root/mnt/mqtt"
	unshare --mount --fork /bin/sh -ec '
		root=$1; src=$2; shift 2
		mount --make-rprivate /
		mount --bind /dev "$root/dev"
		mount -t proc proc "$root/proc"
		mount --bind "$src" "$root/mnt/mqtt"
		exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin \
			HOME=/tmp LC_ALL=C.UTF-8 "$@"' sh "$root" "$src" \
		make -C "/usr/src/linux-headers-$v" M=/mnt/mqtt CC="$gcc" \
		HOSTCC="$gcc" "$@"
}

[ $# -ge 1 ] || die "usage: kernels.sh list | fetch RELEASE | path RELEASE WHAT | build RELEASE DIR [ARGS]"
[ "$(id -u)" -eq 0 ] || die "needs root (the cache, mmdebstrap and chroot)"
case $1 in
list)	cmd_list ;;
fetch)	[ $# -eq 2 ] || die "fetch RELEASE"; cmd_fetch "$2" ;;
path)	[ $# -eq 3 ] || die "path RELEASE WHAT"; cmd_path "$2" "$3" ;;
build)	[ $# -ge 3 ] || die "build RELEASE DIR [ARGS]"; shift; cmd_build "$@" ;;
*)	die "unknown command $1" ;;
esac
