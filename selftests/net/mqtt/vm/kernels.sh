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
#   kernels.sh rootfs            (arm64) make the guest's root file system
#                                if missing and print its path
#   kernels.sh fetch RELEASE     download and unpack that kernel and its
#                                build root; prints nothing
#   kernels.sh path RELEASE WHAT the kernel image (WHAT=kernel), its module
#                                tree (modules) or, for a matrix kernel,
#                                "matrix", its compiler (gcc), the tarball
#                                of "kernels.sh source" (source) and its
#                                Debian version (source-version); exit 1
#                                for an unknown release
#   kernels.sh source RELEASE    download that kernel's linux-source-X.Y
#                                (the same Debian version as its headers)
#                                and print the path of its tarball
#   kernels.sh exec RELEASE DIR... -- COMMAND...
#                                run COMMAND in that kernel's build root,
#                                each DIR bind-mounted at its own path
#                                (make check-debug KVER=: the debug kernel
#                                of a matrix kernel is built there)
#   kernels.sh build RELEASE DIR [MAKE ARGS]
#                                build the module in DIR (a copy of the
#                                sources) for that kernel, in its build
#                                root, with the compiler the kernel was
#                                built with
#
# MQTT_ARCH=arm64 (default amd64) does all of this for Debian's arm64
# kernels: bookworm's 6.1 comes from the mirror as well (the machine runs
# amd64), modules are cross-built in the same build roots with the
# release's gcc-N-aarch64-linux-gnu and the amd64 linux-kbuild, and the
# test VM boots an arm64 root file system extracted from bookworm's arm64
# packages (mosquitto, the libraries the tests link), cached as rootfs-arm64/.
#
# Cache layout ($MQTT_KERNEL_CACHE, default /var/cache/mqtt-kernels):
#   apt/                 the private apt configuration and its lists
#                        (apt-arm64/ for MQTT_ARCH=arm64: arm64 native,
#                        amd64 added for linux-kbuild)
#   <release>/debs/      the downloaded packages
#   <release>/root/      image and modules unpacked (lib/modules/<release>)
#   <release>/vmlinuz    the kernel image the VM boots
#   <release>/buildroot  the name of the build root the module builds in
#   roots/<suite>/       an mmdebstrap build root of that Debian release,
#                        with each kernel's headers and kbuild unpacked at
#                        their real paths (their Makefiles include
#                        /usr/src/linux-headers-*-common by absolute path)
#   rootfs-arm64/        the arm64 guest's root (mmdebstrap --variant=extract:
#                        unpacked, no maintainer script run)
#
# Why build roots: a kernel module must be built with the compiler the
# kernel was (its CONFIG_CC_VERSION_TEXT).  bookworm's gcc-12 cannot build
# against 6.12+ headers of trixie (gcc-14) or sid (gcc-16), and the newer
# kbuild tools (modpost, objtool) need a newer glibc than bookworm's.  The
# build root of the release the kernel comes from has both.

set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MQTT_KERNEL_CACHE:-/var/cache/mqtt-kernels}
ARCH=${MQTT_ARCH:-amd64}
case $ARCH in
amd64)	APTDIR=$CACHE/apt ;;
arm64)	APTDIR=$CACHE/apt-arm64 ;;
*)	echo "kernels.sh: MQTT_ARCH must be amd64 or arm64" >&2; exit 2 ;;
esac
# arm64: the cross compilers' target triplet.
CROSS=aarch64-linux-gnu
ROOTFS=$CACHE/rootfs-arm64

# Releases of the matrix past bookworm (amd64: bookworm's kernel is the
# installed one; arm64: it comes from the mirror too); trixie's kernel may
# come from its -updates or -security suite, so each release lists the
# suites it reads.
RELEASES=(bookworm-backports trixie sid experimental)
[ "$ARCH" = amd64 ] || RELEASES=(bookworm "${RELEASES[@]}")
declare -A SUITES=(
	[bookworm]="bookworm bookworm-updates bookworm-security"
	[bookworm-backports]="bookworm-backports"
	[trixie]="trixie trixie-updates trixie-security"
	[sid]="sid"
	[experimental]="experimental"
)
# The Debian release whose user space builds a kernel's modules:
# experimental has no complete user space of its own.
declare -A ROOT_SUITE=(
	[bookworm]=bookworm
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
	local main sec stamp=$APTDIR/updated archs="\"$ARCH\";"
	local suites="bookworm-backports trixie trixie-updates sid experimental"
	local sec_suites="trixie-security"

	main=$(mirror_of bookworm)
	sec=$(mirror_of bookworm-security)
	[ -n "$main" ] || die "no Debian mirror for bookworm in this machine's apt sources"
	[ -n "$sec" ] || sec=${main%/debian/}/debian-security/
	# arm64: bookworm's kernel too, and amd64's lists for linux-kbuild
	# (its tools run on this machine).
	if [ "$ARCH" != amd64 ]; then
		suites="bookworm bookworm-updates $suites"
		sec_suites="bookworm-security $sec_suites"
		archs+=' "amd64";'
	fi

	mkdir -p "$APTDIR"/{etc/apt.conf.d,etc/sources.list.d,etc/preferences.d,etc/trusted.gpg.d,state/lists/partial,cache/archives/partial}
	cat >"$APTDIR/etc/debian.sources.new" <<-EOF
	# Written by kernels.sh: the mirrors of /etc/apt, other releases.
	Types: deb
	URIs: $main
	Suites: $suites
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

	Types: deb
	URIs: $sec
	Suites: $sec_suites
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
	APT::Architectures { $archs };
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

# The kernel of a matrix release, as its kernel release string (uname
# -r): the newest linux-headers-<release>-$ARCH its suites have; for
# bookworm (arm64), whose suites also carry the 6.12 kernels of its
# long-term support, the one its linux-headers-$ARCH metapackage names,
# the kernel a bookworm machine runs.
newest_of() {
	local rel=$1 suite f

	for suite in ${SUITES[$rel]}; do
		for f in "$APTDIR"/state/lists/*_dists_"${suite}"_main_binary-${ARCH}_Packages; do
			[ -e "$f" ] || continue
			if [ "$rel" = bookworm ]; then
				awk -v p="linux-headers-$ARCH" -v a="$ARCH" '
					$0 == "Package: " p { m = 1 }
					m && /^Depends:/ {
						if (match($0, "linux-headers-[^ ,]*-" a))
							print substr($0, RSTART + 14, RLENGTH - 14)
						m = 0
					}
					/^$/ { m = 0 }' "$f"
			else
				sed -n "s/^Package: linux-headers-\([0-9][^ ]*[0-9]-${ARCH}\)$/\1/p" "$f"
			fi
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
	if [ "$ARCH" = amd64 ]; then
		v=$(installed_kernel)
		[ -z "$v" ] || { echo "$v"; seen+="$v "; }
	fi
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

# A package's Depends that name linux-headers-* or linux-kbuild-*; arm64:
# linux-kbuild of amd64, whose tools (fixdep, modpost) run on this machine.
header_deps() {
	local kbuild_arch=

	[ "$ARCH" = amd64 ] || kbuild_arch=:amd64
	apt_cache_private depends --no-recommends --no-suggests "$1" 2>/dev/null |
		sed -n -e "s/^ *Depends: \(linux-kbuild-[^ :]*\).*/\1$kbuild_arch/p" \
			-e 's/^ *Depends: \(linux-headers-[^ :]*\).*/\1/p'
}

# The compiler packages a kernel built with gcc-N needs: gcc-N itself
# (HOSTCC), and for arm64 its cross compiler and binutils.
compiler_pkgs() {
	if [ "$ARCH" = amd64 ]; then
		echo "$1"
	else
		echo "$1 $1-$CROSS binutils-$CROSS"
	fi
}

# The C compiler kbuild runs for a kernel built with gcc-N.
kernel_cc() {
	if [ "$ARCH" = amd64 ]; then
		echo "$1"
	else
		echo "$CROSS-$1"
	fi
}

# Make a build root of Debian release $1 with the compiler packages $2
# (compiler_pkgs), the tools kbuild runs (pahole for BTF: 6.12+ headers
# ship a vmlinux; perl for W=1's kernel-doc) and sparse.  A build root
# made for one kernel gets the compilers of another added.  mmdebstrap is
# given the machine's apt environment, not the private one.
build_root() {
	local suite=$1 pkgs=$2 dir=$CACHE/roots/$1 main p missing=()

	if [ -e "$dir/.complete" ]; then
		for p in $pkgs; do
			chroot "$dir" dpkg-query -W -f='${db:Status-Status}\n' \
				"$p" 2>/dev/null | grep -qx installed ||
				missing+=("$p")
		done
		[ ${#missing[@]} -gt 0 ] || return 0
		log "build root $suite: adding ${missing[*]}"
		mount --bind /dev "$dir/dev"
		env -u APT_CONFIG chroot "$dir" apt-get -q update >&2 &&
		env -u APT_CONFIG DEBIAN_FRONTEND=noninteractive chroot "$dir" \
			apt-get -q -o Dpkg::Use-Pty=0 install -y --no-install-recommends \
			"${missing[@]}" >&2 || { umount "$dir/dev"; return 1; }
		umount "$dir/dev"
		return
	fi
	main=$(mirror_of bookworm)
	"$VM_DIR/deps.sh" mmdebstrap >&2
	log "making the $suite build root ($pkgs) in $dir"
	rm -rf "$dir"
	mkdir -p "$CACHE/roots"
	env -u APT_CONFIG mmdebstrap --variant=minbase --quiet \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--include="make,${pkgs// /,},binutils,libc6-dev,libelf-dev,libssl-dev,dwarves,perl,sparse,bc,bison,flex,kmod,xz-utils" \
		"$suite" "$dir" "$main" >&2
	# HOSTCC and a plain "gcc": the kernel's compiler (first package).
	ln -sf "/usr/bin/${pkgs%% *}" "$dir/usr/local/bin/gcc"
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
	build_root "$suite" "$(compiler_pkgs "$gcc")"
	root=$CACHE/roots/$suite
	for p in "$dir"/debs/linux-headers-*.deb "$dir"/debs/linux-kbuild-*.deb; do
		unpack "$p" "$root"
	done
	echo "$rel" >"$dir/release"
	echo "$suite" >"$dir/buildroot"
	echo "$gcc" >"$dir/gcc"
	touch "$dir/.complete"
}

# The arm64 guest's root file system: bookworm's arm64 packages the guest
# script, the broker and the tests use, unpacked by mmdebstrap's extract
# variant (no maintainer script runs, so no emulator is needed), plus the
# few files those scripts would have written.  Also the sysroot the tests
# are cross-compiled against (libc6-dev, libmosquitto-dev, Paho C).
ROOTFS_PKGS=(bash dash coreutils grep sed findutils mount util-linux procps
	iproute2 kmod perl-base hostname busybox-static
	mosquitto mosquitto-clients libmosquitto-dev libpaho-mqtt-dev libc6-dev
	openssl libssl-dev)

cmd_rootfs() {
	local main d

	[ "$ARCH" = arm64 ] || die "rootfs: only for MQTT_ARCH=arm64"
	# .complete names the packages: a changed list makes the root again.
	if [ "$(cat "$ROOTFS/.complete" 2>/dev/null)" != "${ROOTFS_PKGS[*]}" ]; then
		main=$(mirror_of bookworm)
		[ -n "$main" ] || die "no Debian mirror for bookworm in this machine's apt sources"
		"$VM_DIR/deps.sh" mmdebstrap >&2
		log "extracting the arm64 guest root into $ROOTFS"
		rm -rf "$ROOTFS"
		env -u APT_CONFIG mmdebstrap --variant=extract --quiet \
			--architectures=arm64 \
			--include="$(IFS=,; echo "${ROOTFS_PKGS[*]}")" \
			bookworm "$ROOTFS" "$main" >&2
		# base-passwd's postinst would have written these.
		[ -s "$ROOTFS/etc/passwd" ] ||
			printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' \
				>"$ROOTFS/etc/passwd"
		[ -s "$ROOTFS/etc/group" ] ||
			printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' \
				>"$ROOTFS/etc/group"
		# dash's postinst makes /bin/sh (the tests run "sh -c").
		[ -e "$ROOTFS/bin/sh" ] || ln -s dash "$ROOTFS/bin/sh"
		# initramfs-init puts tmpfs on these: they must exist.
		for d in tmp var/tmp run var/log var/lib/mosquitto; do
			mkdir -p "$ROOTFS/$d"
		done
		echo "${ROOTFS_PKGS[*]}" >"$ROOTFS/.complete"
	fi
	echo "$ROOTFS"
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
	gcc)	cat "$CACHE/$v/gcc" ;;
	source)	echo "$CACHE/$v/linux-source.tar.xz" ;;
	source-version) cat "$CACHE/$v/linux-source.version" ;;
	*)	die "path: kernel, modules, matrix, gcc, source or source-version" ;;
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

# The kernel source package of a fetched kernel: linux-source-X.Y of the
# version its headers have, its tarball unpacked next to the packages.
cmd_source() {
	local v=$1 dir=$CACHE/$1 ver series tar

	cmd_fetch "$v"
	tar=$dir/linux-source.tar.xz
	ver=$(dpkg-deb -f "$(ls "$dir"/debs/linux-headers-"${v}"_*.deb)" Version)
	if [ ! -e "$tar" ]; then
		apt_setup
		series=$(sed -E 's/^([0-9]+\.[0-9]+).*/\1/' <<<"$ver")
		log "fetching linux-source-$series $ver for $v"
		(cd "$dir/debs" && apt_private download \
			"linux-source-$series=$ver" >&2)
		dpkg-deb --fsys-tarfile "$dir"/debs/linux-source-"${series}"_*.deb |
			tar -xO "./usr/src/linux-source-$series.tar.xz" >"$tar.new"
		mv "$tar.new" "$tar"
	fi
	echo "$ver" >"$dir/linux-source.version"
	echo "$tar"
}

# Run a command in a kernel's build root (a private mount namespace:
# /dev, /proc and the given directories, at their own paths).
cmd_exec() {
	local v=$1 root d
	local -a dirs=()

	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		dirs+=("$(realpath "$1")")
		shift
	done
	[ $# -ge 2 ] || die "exec RELEASE DIR... -- COMMAND..."
	shift
	cmd_fetch "$v"
	root=$CACHE/roots/$(cat "$CACHE/$v/buildroot")
	for d in "${dirs[@]}"; do
		mkdir -p "$root$d"
	done
	unshare --mount --fork /bin/sh -ec '
		root=$1; n=$2; shift 2
		mount --make-rprivate /
		mount --bind /dev "$root/dev"
		mount -t proc proc "$root/proc"
		while [ "$n" -gt 0 ]; do
			mount --bind "$1" "$root$1"
			shift; n=$((n - 1))
		done
		exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin \
			HOME=/tmp LC_ALL=C.UTF-8 "$@"' sh "$root" "${#dirs[@]}" \
		"${dirs[@]}" "$@"
}

# Build in the kernel's build root (cmd_exec): it sees /dev, /proc and
# the copy of the sources, nothing else of the machine.
cmd_build() {
	local v=$1 src=$2 gcc cc
	local -a cross=()

	shift 2
	cmd_fetch "$v"
	gcc=$(cat "$CACHE/$v/gcc")
	cc=$(kernel_cc "$gcc")
	[ "$ARCH" = amd64 ] || cross=(ARCH="$ARCH" CROSS_COMPILE="$CROSS-")
	checker_valid "$CACHE/roots/$(cat "$CACHE/$v/buildroot")" "$v"
	src=$(realpath "$src")
	echo "kernels.sh: building for $v in the $(cat "$CACHE/$v/buildroot") build root with $cc" >&2
	cmd_exec "$v" "$src" -- make -C "/usr/src/linux-headers-$v" M="$src" \
		"${cross[@]}" CC="$cc" HOSTCC="$gcc" "$@"
}

[ $# -ge 1 ] || die "usage: kernels.sh list | rootfs | fetch RELEASE | path RELEASE WHAT | source RELEASE | exec RELEASE DIR... -- CMD | build RELEASE DIR [ARGS]"
[ "$(id -u)" -eq 0 ] || die "needs root (the cache, mmdebstrap and chroot)"
case $1 in
list)	cmd_list ;;
rootfs)	cmd_rootfs ;;
source)	[ $# -eq 2 ] || die "source RELEASE"; cmd_source "$2" ;;
exec)	[ $# -ge 4 ] || die "exec RELEASE DIR... -- COMMAND..."; shift; cmd_exec "$@" ;;
fetch)	[ $# -eq 2 ] || die "fetch RELEASE"; cmd_fetch "$2" ;;
path)	[ $# -eq 3 ] || die "path RELEASE WHAT"; cmd_path "$2" "$3" ;;
build)	[ $# -ge 3 ] || die "build RELEASE DIR [ARGS]"; shift; cmd_build "$@" ;;
*)	die "unknown command $1" ;;
esac
