#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The mqtt-dkms package on this machine, as a gateway would use it ("make
# check-dkms", as root; issue 11):
#
#  1. the .deb installs with apt, and none of its maintainer scripts loads
#     a module;
#  2. DKMS built and installed mqtt.ko for every kernel whose headers are
#     installed and that BUILD_EXCLUSIVE_KERNEL admits, into
#     /lib/modules/<release>/updates/dkms with depmod, at the package's
#     version; BUILD_EXCLUSIVE_KERNEL admits 6.1 and later only;
#  3. the header: the installed <linux/mqtt.h> is uapi/linux/mqtt.h, owned
#     by no other package, and the README's example compiles against it
#     with the documented flag (pkg-config --cflags mqtt-dkms);
#  4. each of those kernels that has an image in /boot boots in the VM
#     with the installed module tree (the host root is the guest's):
#     socket(AF_MQTT) loads the module, modprobe loads it, the connect
#     tests and the README's example pass (run-vm.sh --module-from-tree);
#  5. purging the package removes everything it and DKMS installed: the
#     files it owned, /usr/src/mqtt-<version>, /var/lib/dkms/mqtt, every
#     mqtt.ko and the module's entries in modules.dep and modules.alias;
#     the file lists of the places it touches are as before the install,
#     except DKMS's own signing key (see below).
#
# This machine's kernel never loads anything: DKMS does not load modules
# (step 1 checks the scripts and the framework.conf option that would),
# and the host kernel's module list is compared before and after.
#
#   dkms-test.sh --deb FILE --version VERSION --tests "/abs/connect ..."
#                [--results DIR]
#
# Exit status 0 when every check passed.

# The checks pass arguments to bash -c scripts in single quotes on purpose.
# shellcheck disable=SC2016

set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$VM_DIR/../../../.." && pwd)
PKG=mqtt-dkms
NAME=mqtt

DEB=
VERSION=
TESTS=
RESULTS=$REPO_ROOT/.build/vm/results-dkms

usage() {
	sed -n '/^#   dkms-test.sh/,/^#  *\[--results/s/^# //p' "$0"
}

while [ $# -gt 0 ]; do
	case $1 in
	--deb)		DEB=$2; shift 2 ;;
	--version)	VERSION=$2; shift 2 ;;
	--tests)	TESTS=$2; shift 2 ;;
	--results)	RESULTS=$2; shift 2 ;;
	-h|--help)	usage; exit 0 ;;
	*)		usage >&2; exit 2 ;;
	esac
done
if [ -z "$DEB" ] || [ -z "$VERSION" ] || [ -z "$TESTS" ]; then
	usage >&2
	exit 2
fi
[ "$(id -u)" = 0 ] || { echo "dkms-test.sh: needs root" >&2; exit 2; }
DEB=$(realpath "$DEB")

WORK=$RESULTS/host
START=$SECONDS
PASSED=0
FAILED=0

ok() {
	PASSED=$((PASSED + 1))
	echo "ok: $*"
}

fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL: $*"
}

# check DESCRIPTION COMMAND...: ok or FAIL by the command's status.
check() {
	local what=$1

	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

step() {
	echo
	echo "==== dkms-test.sh: $* ($((SECONDS - START)) s) ===="
}

apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -q \
		-o Dpkg::Use-Pty=0 --no-install-recommends "$@"
}

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null)" = \
		installed ]
}

# Kernels whose headers are installed: a build tree under /lib/modules.
kernels_with_headers() {
	local d

	for d in /lib/modules/*/build; do
		[ -f "$d/Makefile" ] && basename "$(dirname "$d")"
	done
}

# The places the package and DKMS write to, as a sorted file list.
# DKMS's signing key (/var/lib/dkms/mok.*) is created on the first
# signed build for every DKMS module to share and is kept on purpose:
# it is the key enrolled for Secure Boot.
snapshot() {
	local d

	for d in /usr/src /usr/include /usr/share/pkgconfig /usr/share/doc \
		/var/lib/dkms /lib/modules /etc/modprobe.d /etc/modules-load.d \
		/usr/lib/modules-load.d; do
		[ ! -d "$d" ] || find "$d" -mindepth 1
	done | grep -vE '^/var/lib/dkms/mok\.(key|pub)$' | sort
}

# A kernel without module support has no /proc/modules: nothing to load.
host_modules() {
	[ ! -r /proc/modules ] || cut -d' ' -f1 /proc/modules | sort
}

mkdir -p "$WORK"
rm -rf "${WORK:?}"/*

# ----------------------------------------------------------- 1: install --

step "install $DEB"
if installed; then
	echo "dkms-test.sh: $PKG is installed (an earlier run?): purging it first"
	apt_get purge "$PKG"
fi
snapshot >"$WORK/before.list"
host_modules >"$WORK/host-modules-before.txt"

mkdir -p "$WORK/control"
dpkg-deb -e "$DEB" "$WORK/control"
check "no maintainer script loads a module" \
	bash -c '! grep -nE "\<(modprobe|insmod)\>" "$1"/*inst "$1"/*rm 2>/dev/null' \
	_ "$WORK/control"
check "DKMS does not load modules on install (framework.conf)" \
	bash -c '! grep -hsE "^[[:space:]]*modprobe_on_install=.+" \
		/etc/dkms/framework.conf /etc/dkms/framework.conf.d/*.conf'

if apt_get install "$DEB" >"$WORK/install.log" 2>&1; then
	ok "apt-get install $(basename "$DEB")"
else
	cat "$WORK/install.log"
	fail "apt-get install $(basename "$DEB")"
fi
sed 's/^/  | /' "$WORK/install.log" | grep -iE 'dkms|build|kernel|sign|mqtt' || true
dpkg-query -L "$PKG" >"$WORK/package-files.txt" 2>/dev/null || true

# ------------------------------------------------------------ 2: build --

step "DKMS builds for every kernel with headers"
dkms status -m "$NAME" | sed 's/^/  | /'
CONF=/usr/src/$NAME-$VERSION/dkms.conf
# shellcheck source=/dev/null
EXCLUSIVE=$(set +u; . "$CONF" && echo "$BUILD_EXCLUSIVE_KERNEL")

# What BUILD_EXCLUSIVE_KERNEL admits: 6.1 and later, not 6.0 and older.
admits() {
	[[ $1 =~ $EXCLUSIVE ]]
}
for k in 6.1.0-57-amd64 6.1.158 6.9.0 6.12.48+deb13-amd64 6.19.0-rc1 \
		7.0.0-1-amd64 7.3.0 8.1.0 10.0.0; do
	check "BUILD_EXCLUSIVE_KERNEL admits $k" admits "$k"
done
for k in 6.0.19 6.0.0-1-amd64 5.10.0-32-amd64 5.19.17 4.19.0-27-amd64 \
		3.16.0 6; do
	check "BUILD_EXCLUSIVE_KERNEL refuses $k" bash -c \
		'! [[ $1 =~ $2 ]]' _ "$k" "$EXCLUSIVE"
done

VM_KERNELS=()
mapfile -t KERNELS < <(kernels_with_headers)
[ ${#KERNELS[@]} -gt 0 ] || fail "no kernel with headers installed"
for k in "${KERNELS[@]}"; do
	ko=/lib/modules/$k/updates/dkms/$NAME.ko
	if ! admits "$k"; then
		check "$k (refused by BUILD_EXCLUSIVE_KERNEL): nothing built" \
			test ! -e "$ko"
		continue
	fi
	check "dkms status: $NAME/$VERSION installed for $k" bash -c \
		'dkms status -m "$1" -v "$2" -k "$3" | grep -q ": installed"' \
		_ "$NAME" "$VERSION" "$k"
	check "$ko exists" test -f "$ko"
	check "$k: modinfo version $VERSION" \
		test "$(modinfo -F version "$ko" 2>/dev/null)" = "$VERSION"
	check "$k: modinfo vermagic is $k" bash -c \
		'modinfo -F vermagic "$1" | grep -q "^$2 "' _ "$ko" "$k"
	check "$k: signed with DKMS's key (Secure Boot: mokutil --import)" \
		test "$(modinfo -F signer "$ko" 2>/dev/null)" = \
		"DKMS module signing key"
	check "$k: depmod saw it (modules.dep)" \
		grep -q "^updates/dkms/$NAME.ko:" "/lib/modules/$k/modules.dep"
	check "$k: its alias net-pf-22 is in modules.alias" \
		grep -qE "^alias net-pf-22 $NAME\$" "/lib/modules/$k/modules.alias"
	if [ -r "/boot/vmlinuz-$k" ]; then
		VM_KERNELS+=("$k")
	else
		echo "dkms-test.sh: no /boot/vmlinuz-$k, not booting $k"
	fi
done

# ----------------------------------------------------------- 3: header --

step "the user API header"
HDR=/usr/include/mqtt-dkms/linux/mqtt.h
check "$HDR is uapi/linux/mqtt.h" cmp -s "$HDR" "$REPO_ROOT/uapi/linux/mqtt.h"
others=$(while read -r f; do [ -d "$f" ] || echo "$f"; done \
	<"$WORK/package-files.txt" | xargs -r -d '\n' dpkg-query -S 2>/dev/null |
	grep -v "^$PKG: " || true)
check "no file of $PKG is also another package's (linux-libc-dev)" \
	test -z "$others"
[ -z "$others" ] || echo "$others"

# The README's example program (its first C block), as a reader compiles
# it with the package's header.
awk '/^```c$/ { on = 1; next } on && /^```/ { exit } on' \
	"$REPO_ROOT/README.md" >"$WORK/example.c"
CFLAGS_PC=$(pkg-config --cflags mqtt-dkms 2>/dev/null | sed 's/ *$//' || true)
check "pkg-config --cflags mqtt-dkms: -I/usr/include/mqtt-dkms" \
	test "$CFLAGS_PC" = "-I/usr/include/mqtt-dkms"
# shellcheck disable=SC2086
check "the README example compiles with \$(pkg-config --cflags mqtt-dkms)" \
	cc -Wall -Werror $CFLAGS_PC -o "$WORK/example" "$WORK/example.c"
# shellcheck disable=SC2086
check "... and with the installed $HDR" bash -c \
	'cc $1 -M "$2" | tr " " "\n" | grep -qxF "$3"' \
	_ "$CFLAGS_PC" "$WORK/example.c" "$HDR"

# In the VM the example is one more test, a program on its own (the guest
# sees none of the host's /tmp): TAP around its main(), which returns 0
# once it received its message back through the broker.
cat >"$WORK/readme-example.c" <<'EOF'
#define main readme_example
#include "example.c"
#undef main

int main(void)
{
	int rc;

	printf("1..1\n");
	fflush(stdout);
	rc = readme_example();
	fflush(stdout);
	printf("%sok 1 README example\n", rc ? "not " : "");
	return rc;
}
EOF
# shellcheck disable=SC2086
check "... and as a test program" cc -Wall $CFLAGS_PC \
	-o "$WORK/readme-example" "$WORK/readme-example.c"

# --------------------------------------------------------------- 4: VM --

for k in "${VM_KERNELS[@]}"; do
	step "boot $k with the installed module"
	res=$RESULTS/vm-$k
	if MQTT_VM_SKIP_DEPS=1 "$VM_DIR/run-vm.sh" --kernel "/boot/vmlinuz-$k" \
		--modules "/lib/modules/$k" --module-from-tree --mode check \
		--tests "$TESTS $WORK/readme-example" --results "$res" \
		>"$WORK/vm-$k.log" 2>&1; then
		ok "$k: VM: $(tail -n 1 "$WORK/vm-$k.log")"
	else
		grep -E '^(FAIL|SKIP): |^not ok |passed, ' "$WORK/vm-$k.log" || true
		fail "$k: VM: $(tail -n 1 "$WORK/vm-$k.log") (see $WORK/vm-$k.log)"
	fi
	sed -n '/==== module checks ====/,/^$/p' "$WORK/vm-$k.log"
	check "$k: the guest loaded /lib/modules/$k/updates/dkms/$NAME.ko" \
		grep -qE "^filename: +/lib/modules/$k/updates/dkms/$NAME\.ko\$" \
		"$res/module-info.txt"
	check "$k: ... at version $VERSION" \
		grep -qE "^version: +$VERSION\$" "$res/module-info.txt"
done
[ ${#VM_KERNELS[@]} -gt 0 ] || fail "no kernel to boot"

# ------------------------------------------------------------ 5: purge --

step "purge $PKG"
if apt_get purge "$PKG" >"$WORK/purge.log" 2>&1; then
	ok "apt-get purge $PKG"
else
	cat "$WORK/purge.log"
	fail "apt-get purge $PKG"
fi
sed 's/^/  | /' "$WORK/purge.log" | grep -iE 'dkms|remov|mqtt' || true
check "dpkg knows no $PKG" bash -c \
	'! dpkg-query -W -f="\${db:Status-Status}" "$1" 2>/dev/null |
		grep -qv "^not-installed$"' _ "$PKG"
check "every file $PKG owned is gone" bash -c \
	'while read -r f; do [ -d "$f" ] || [ ! -e "$f" ] || exit 1; done <"$1"' \
	_ "$WORK/package-files.txt"
check "/usr/src/$NAME-$VERSION is gone" test ! -e "/usr/src/$NAME-$VERSION"
check "/var/lib/dkms/$NAME is gone" test ! -e "/var/lib/dkms/$NAME"
check "no $NAME.ko left under /lib/modules" bash -c \
	'[ -z "$(find /lib/modules -name "$1.ko*" 2>/dev/null)" ]' _ "$NAME"
check "no $NAME in modules.dep or modules.alias" bash -c \
	'! grep -qsE "(/$1\.ko|[[:space:]]$1\$)" /lib/modules/*/modules.dep \
		/lib/modules/*/modules.alias' _ "$NAME"
snapshot >"$WORK/after.list"
if diff -u "$WORK/before.list" "$WORK/after.list" >"$WORK/leftovers.diff"; then
	ok "the file lists are as before the install"
else
	cat "$WORK/leftovers.diff"
	fail "the file lists differ from before the install (above)"
fi
host_modules >"$WORK/host-modules-after.txt"
check "this machine's kernel loaded nothing" \
	cmp -s "$WORK/host-modules-before.txt" "$WORK/host-modules-after.txt"

echo
echo "dkms-test.sh: $((SECONDS - START)) s, results in $RESULTS"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
