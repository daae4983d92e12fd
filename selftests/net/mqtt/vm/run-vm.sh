#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a QEMU VM with the given Debian kernel, start a mosquitto broker in
# it, load mqtt.ko and run the AF_MQTT selftests (--mode check), the demo
# (--mode run) or the benchmark (--mode bench).  Never loads anything into
# the host kernel.  See README.

set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$VM_DIR/../../../.." && pwd)

usage() {
	cat <<-USAGE
	usage: ${0##*/} --kernel /boot/vmlinuz-VER --modules /lib/modules/VER
	         --module /path/to/mqtt.ko|--module-from-tree
	         --mode check|run|bench
	         [--tests "/abs/test1 /abs/test2"] [--demo /abs/demo]
	         [--bench /abs/mqtt_bench [--bench-args "ARGS"]]
	         [--timeout SECONDS] [--test-timeout SECONDS]
	         [--results DIR] [--verbose]
	         [--debug] [--kunit-module /path/to/test.ko]
	         [--arch amd64|arm64] [--root DIR]

	  --kernel        kernel image to boot
	  --modules       its module tree (virtio/9p modules come from here)
	  --module        the mqtt.ko to test
	  --module-from-tree
	                  no --module: the module tree of --modules has
	                  mqtt.ko (an installed package, depmod run); the
	                  guest checks that socket(AF_MQTT) loads it, then
	                  loads it with modprobe instead of insmod
	  --mode          check: run --tests and the module checks, summarize
	                  run:   run --demo with its output on the console
	                  bench: run --bench with --bench-args on one vCPU
	                         under QEMU icount (TCG); bench.json and
	                         bench.txt in the results
	  --tests         test binaries, space separated (check mode)
	  --demo          demo binary (run mode), then the programs it runs,
	                  space separated: all are copied next to it
	  --timeout       hard limit for the whole VM run, default 900 s
	  --test-timeout  limit for each test binary / the demo, default 300 s
	  --results       results directory (also the VM's results share),
	                  default .build/vm/results-MODE in the repository
	  --verbose       show the VM console live in check mode too
	  --debug         debug kernel checks (check mode): kmemleak cleared
	                  before the tests and scanned after the last rmmod
	                  (any leak fails), debug-objects reports fail,
	                  KASAN reports every error (kasan_multi_shot)
	  --kunit-module  a KUnit test module, loaded after the module checks;
	                  each KUnit case of its KTAP output counts as a test
	  --arch          the guest's architecture: amd64 (default,
	                  qemu-system-x86_64) or arm64 (qemu-system-aarch64,
	                  virt machine, always TCG)
	  --root          the guest's root file system, shared read-only
	                  over 9p: default / (this machine's, amd64); arm64
	                  needs an arm64 root (kernels.sh rootfs), whose
	                  busybox also makes the initramfs

	Environment: MQTT_VM_ACCEL=kvm|tcg forces the accelerator,
	MQTT_VM_SKIP_DEPS=1 skips deps.sh, MQTT_VM_MEM (default 1G),
	MQTT_VM_SMP (default 2).
	USAGE
}

die() {
	echo "run-vm.sh: $*" >&2
	exit 2
}

KERNEL=
MODULES=
MODULE=
MODE=
TESTS=()
DEMO=
TIMEOUT=900
TEST_TIMEOUT=300
RESULTS=
VERBOSE=0
DEBUG=0
KUNIT_MODULE=
BENCH_ARGS=
MODULE_FROM_TREE=0
ARCH=amd64
GUEST_ROOT=/

while [ $# -gt 0 ]; do
	case $1 in
	--kernel|--modules|--module|--mode|--tests|--demo|--timeout|\
	--test-timeout|--results|--kunit-module|--bench|--bench-args|\
	--arch|--root)
		[ $# -ge 2 ] || die "$1 needs a value" ;;
	esac
	case $1 in
	--kernel)	KERNEL=$2; shift 2 ;;
	--modules)	MODULES=$2; shift 2 ;;
	--module)	MODULE=$2; shift 2 ;;
	--module-from-tree) MODULE_FROM_TREE=1; shift ;;
	--mode)		MODE=$2; shift 2 ;;
	--tests)	read -r -a t <<<"$2"; TESTS+=("${t[@]}"); shift 2 ;;
	--demo|--bench)	DEMO=$2; shift 2 ;;
	--bench-args)	BENCH_ARGS=$2; shift 2 ;;
	--timeout)	TIMEOUT=$2; shift 2 ;;
	--test-timeout)	TEST_TIMEOUT=$2; shift 2 ;;
	--results)	RESULTS=$2; shift 2 ;;
	--verbose|-v)	VERBOSE=1; shift ;;
	--debug)	DEBUG=1; shift ;;
	--kunit-module)	KUNIT_MODULE=$2; shift 2 ;;
	--arch)		ARCH=$2; shift 2 ;;
	--root)		GUEST_ROOT=$2; shift 2 ;;
	-h|--help)	usage; exit 0 ;;
	*)		usage >&2; die "unknown argument: $1" ;;
	esac
done

if [ -z "$KERNEL" ] || [ -z "$MODULES" ] || [ -z "$MODE" ] ||
   { [ -z "$MODULE" ] && [ "$MODULE_FROM_TREE" = 0 ]; }; then
	usage >&2
	die "--kernel, --modules, --module (or --module-from-tree) and --mode are required"
fi
[ -z "$MODULE" ] || [ "$MODULE_FROM_TREE" = 0 ] ||
	die "--module and --module-from-tree exclude each other"
case $MODE in
check)	[ ${#TESTS[@]} -gt 0 ] || die "--mode check needs --tests" ;;
run)	[ -n "$DEMO" ] || die "--mode run needs --demo" ;;
bench)	[ -n "$DEMO" ] || die "--mode bench needs --bench" ;;
*)	die "--mode must be check, run or bench" ;;
esac
case $ARCH in
amd64|arm64) ;;
*)	die "--arch must be amd64 or arm64" ;;
esac
[ -d "$GUEST_ROOT" ] || die "no root file system at $GUEST_ROOT"
[ "$ARCH" = amd64 ] || [ "$GUEST_ROOT" != / ] ||
	die "--arch $ARCH needs --root with a root file system of $ARCH"
[ "$ARCH" = amd64 ] || [ "$DEBUG" = 0 ] ||
	die "--debug is for the amd64 debug kernel"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "bad --timeout: $TIMEOUT"
[[ $TEST_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "bad --test-timeout: $TEST_TIMEOUT"

if [ "${MQTT_VM_SKIP_DEPS:-0}" != 1 ]; then
	"$VM_DIR/deps.sh"
fi

[ -r "$KERNEL" ] || die "cannot read kernel $KERNEL"
[ -r "$MODULES/modules.dep" ] || die "no modules.dep in $MODULES"
if [ "$MODULE_FROM_TREE" = 1 ]; then
	grep -qE '(^|/)mqtt\.ko(\.(gz|xz|zst))?:' "$MODULES/modules.dep" ||
		die "no mqtt.ko in $MODULES/modules.dep (install it, run depmod)"
else
	[ -r "$MODULE" ] || die "cannot read module $MODULE (build it first)"
fi
for t in "${TESTS[@]}"; do
	if [ ! -f "$t" ] || [ ! -x "$t" ]; then
		die "test $t is not an executable file"
	fi
done
# --demo "demo helper...": the demo runs, the helpers go next to it.
read -r -a DEMO_FILES <<<"$DEMO"
DEMO=${DEMO_FILES[0]:-}
for t in "${DEMO_FILES[@]}"; do
	[ -x "$t" ] || die "demo $t is not executable"
done
[ -z "$KUNIT_MODULE" ] || [ -r "$KUNIT_MODULE" ] ||
	die "cannot read KUnit module $KUNIT_MODULE"
[ -z "$KUNIT_MODULE" ] || [ "$MODE" = check ] ||
	die "--kunit-module needs --mode check"

BUSYBOX=
for b in "${GUEST_ROOT%/}/bin/busybox" "${GUEST_ROOT%/}/usr/bin/busybox"; do
	[ -x "$b" ] && { BUSYBOX=$b; break; }
done
[ -n "$BUSYBOX" ] || die "busybox not found in $GUEST_ROOT (package busybox-static)"
if readelf -l "$BUSYBOX" 2>/dev/null | grep -q 'Requesting program interpreter'; then
	die "$BUSYBOX is dynamically linked, install busybox-static"
fi

KERNEL=$(realpath "$KERNEL")
MODULES=$(realpath "$MODULES")
GUEST_ROOT=$(realpath "$GUEST_ROOT")

# ------------------------------------------------------------- results --

RESULTS=${RESULTS:-$REPO_ROOT/.build/vm/results-$MODE}
MARKER=.mqtt-vm-results
mkdir -p "$RESULTS"
RESULTS=$(realpath "$RESULTS")
if [ -n "$(ls -A "$RESULTS")" ] && [ ! -e "$RESULTS/$MARKER" ]; then
	die "$RESULTS is not empty and not a previous results directory"
fi
find "$RESULTS" -mindepth 1 -delete
touch "$RESULTS/$MARKER"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mqtt-vm.XXXXXX")
QEMU_PID=
TAIL_PID=

cleanup() {
	local i

	# QEMU_PID is timeout(1), which passes the signal on to qemu.
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill -TERM "$QEMU_PID" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$QEMU_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$QEMU_PID" 2>/dev/null || true
	fi
	if [ -n "$TAIL_PID" ]; then
		kill "$TAIL_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------- initramfs --

# Print the modules.dep paths to load for the given modules, dependencies
# first, each once.  Built-in modules print nothing.
resolve_modules() {
	local name line deps i
	local -a order=() list

	for name in "$@"; do
		line=$(grep -E "(^|/)${name}\.ko(\.(gz|xz|zst))?:" \
			"$MODULES/modules.dep" || true)
		if [ -z "$line" ]; then
			grep -qE "(^|/)${name}\.ko$" "$MODULES/modules.builtin" \
				2>/dev/null && continue
			die "module $name is neither in modules.dep nor built in"
		fi
		read -r -a deps <<<"${line#*:}"
		list=()
		for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
			list+=("${deps[$i]}")
		done
		list+=("${line%%:*}")
		for i in "${list[@]}"; do
			[[ " ${order[*]} " == *" $i "* ]] || order+=("$i")
		done
	done
	printf '%s\n' "${order[@]}"
}

# kTLS and the ciphers it asks the crypto API for (issue 12): the
# modules.dep paths of these aliases and their dependencies, in load
# order, resolved by this machine's modprobe in the booted kernel's tree
# (the crypto API's aliases stay when modules are renamed; a built-in one
# prints nothing).  The initramfs loads them: the guest's root may not
# see that tree (arm64), and its request_module() cannot.
TLS_MODULES=(tls crypto-gcm crypto-aes crypto-ghash crypto-ctr
	crypto-rfc7539 crypto-chacha20 crypto-poly1305)

resolve_tls_modules() {
	local kroot=${MODULES%/lib/modules/*} kver=${MODULES##*/} m

	for m in "${TLS_MODULES[@]}"; do
		modprobe -d "${kroot:-/}" -S "$kver" --show-depends "$m" \
			2>/dev/null || true
	done | awk -v dir="$MODULES/" '
		function strip(p) {	# a literal prefix: paths hold "+"
			sub("^/+", "/", p)
			return index(p, dir) == 1 ? substr(p, length(dir) + 1) : p
		}
		$1 == "insmod" && !seen[$2]++ { print strip($2) }'
}

# Copy modules.dep path $2 into the initramfs as number $1, its line in
# modules.load prefixed with $3 ("?": may fail to load).
add_module() {
	local root=$WORK/initramfs ko=$2 base

	base=${ko##*/}
	base=$(printf '%02d-%s' "$1" "${base%.ko*}.ko")
	case $ko in
	*.ko)		cp "$MODULES/$ko" "$root/lib/modules/$base" ;;
	*.ko.xz)	xz -dc "$MODULES/$ko" >"$root/lib/modules/$base" ;;
	*.ko.gz)	gzip -dc "$MODULES/$ko" >"$root/lib/modules/$base" ;;
	*.ko.zst)	zstd -qdc "$MODULES/$ko" >"$root/lib/modules/$base" ;;
	esac
	echo "$3$base" >>"$root/modules.load"
}

build_initramfs() {
	local root=$WORK/initramfs ko mods n=0

	mkdir -p "$root"/{bin,dev,proc,sys,newroot,lib/modules}
	cp "$BUSYBOX" "$root/bin/busybox"
	install -m 0755 "$VM_DIR/initramfs-init" "$root/init"
	: >"$root/modules.load"

	mods=$(resolve_modules virtio_pci 9pnet_virtio 9p)
	for ko in $mods; do
		n=$((n + 1))
		add_module "$n" "$ko" ""
	done
	# Optional: a cipher module for a CPU feature the guest lacks fails
	# to load, and kTLS then uses another; guest-init.sh checks kTLS.
	for ko in $(resolve_tls_modules); do
		[[ " $mods " == *" $ko "* ]] && continue
		n=$((n + 1))
		add_module "$n" "$ko" "?"
	done

	(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) |
		gzip -1 >"$WORK/initramfs.cpio.gz"
}

# --------------------------------------------------------- guest input --

prepare_share() {
	local i name
	local -a names=()

	mkdir -p "$RESULTS/guest/tests" "$RESULTS/guest/demo" "$RESULTS/tests"
	cp "$VM_DIR/guest-init.sh" "$RESULTS/guest/guest-init.sh"
	[ -z "$MODULE" ] || cp "$MODULE" "$RESULTS/guest/mqtt.ko"
	for i in "${!TESTS[@]}"; do
		name=$(printf '%02d-%s' $((i + 1)) "${TESTS[$i]##*/}")
		cp "${TESTS[$i]}" "$RESULTS/guest/tests/$name"
		names+=("$name")
	done
	for i in "${DEMO_FILES[@]}"; do
		cp "$i" "$RESULTS/guest/demo/${i##*/}"
	done
	[ -z "$KUNIT_MODULE" ] || cp "$KUNIT_MODULE" "$RESULTS/guest/kunit.ko"

	{
		echo "# Generated by run-vm.sh"
		printf 'MODE=%q\n' "$MODE"
		printf 'MODULES_DIR=%q\n' "$MODULES"
		printf 'TEST_TIMEOUT=%q\n' "$TEST_TIMEOUT"
		printf 'TEST_NAMES=(%s)\n' "$(printf '%q ' "${names[@]}")"
		printf 'TEST_PATHS=(%s)\n' "$(printf '%q ' "${TESTS[@]}")"
		printf 'DEMO_NAME=%q\n' "${DEMO##*/}"
		printf 'DEMO_PATH=%q\n' "$DEMO"
		printf 'DEBUG=%q\n' "$DEBUG"
		printf 'MODULE_FROM_TREE=%q\n' "$MODULE_FROM_TREE"
		printf 'EXPECT_VERSION=%q\n' "${MQTT_VERSION:-}"
		printf 'BENCH_ARGS=%q\n' "$BENCH_ARGS"
		printf 'BENCH_CLOCK=%q\n' "$BENCH_CLOCK"
		printf 'KUNIT=%q\n' "$([ -n "$KUNIT_MODULE" ] && echo 1 || echo 0)"
	} >"$RESULTS/guest/config.sh"
}

# ---------------------------------------------------------------- qemu --

# arm64: pointer authentication with QEMU's own cheap algorithm instead of
# emulating QARMA (which costs TCG a lot), everything else of "max".
case $ARCH in
amd64)	QEMU=qemu-system-x86_64 MACHINE=() TCG_CPU=max CONSOLE=ttyS0 ;;
arm64)	QEMU=qemu-system-aarch64 MACHINE=(-machine virt)
	TCG_CPU=max,pauth-impdef=on CONSOLE=ttyAMA0 ;;
esac
command -v "$QEMU" >/dev/null || die "$QEMU not found (deps.sh installs it)"

kvm_usable() {
	grep -qwE 'vmx|svm' /proc/cpuinfo || return 1
	[ -c /dev/kvm ] || return 1
	(exec 3<>/dev/kvm) 2>/dev/null
}

# SeaBIOS clears the screen and resets the terminal on the serial console:
# drop escape sequences and carriage returns before showing console output.
clean_console() {
	sed -u -e 's/\x1bc/\n/g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' \
		-e 's/\x1b[()][0-9A-Za-z]//g' -e 's/\r//g'
}

# -virtfs takes a comma separated option list: double any comma in a path.
qemu_path() {
	printf '%s' "${1//,/,,}"
}

# Sets ACCEL, CPU, SMP, ICOUNT and BENCH_CLOCK for run_qemu.
pick_accel() {
	local accel

	case ${MQTT_VM_ACCEL:-auto} in
	kvm)	accel=kvm ;;
	tcg)	accel=tcg ;;
	auto)	if kvm_usable; then accel=kvm; else accel=tcg; fi ;;
	*)	die "MQTT_VM_ACCEL must be kvm, tcg or auto" ;;
	esac
	# An arm64 guest on this amd64 machine is always emulated.
	[ "$ARCH" = amd64 ] || accel=tcg
	SMP=${MQTT_VM_SMP:-2}
	ICOUNT=()
	BENCH_CLOCK="CLOCK_MONOTONIC, wall time under QEMU TCG"
	if [ $accel = kvm ]; then
		ACCEL=kvm CPU=host
		BENCH_CLOCK="CLOCK_MONOTONIC, wall time under KVM"
	elif [ "$MODE" = bench ]; then
		# One vCPU whose clock advances 1 ns per guest instruction and
		# jumps over idle time: deterministic instruction time (see the
		# README next to this script).  MQTT_VM_ICOUNT=0 turns it off.
		ACCEL=tcg CPU=$TCG_CPU SMP=1
		if [ "${MQTT_VM_ICOUNT:-1}" = 1 ]; then
			ICOUNT=(-icount shift=0,sleep=off)
			BENCH_CLOCK="QEMU icount: 1 ns per guest instruction, 1 vCPU"
		fi
	else
		ACCEL=tcg,thread=multi CPU=$TCG_CPU
	fi
}

run_qemu() {
	local append="console=$CONSOLE quiet panic=-1 mitigations=off"
	local mem=1G
	local -a cmd

	# Report every KASAN error, not only the first one; KASAN shadow and
	# kmemleak metadata need room.  Under TCG a KASAN+lockdep+kmemleak
	# kernel spends more than RCU's default 21 s in one ACPI method at
	# boot: only a stall of 300 s (the maximum) is reported.  That method
	# is the PCI interrupt routing (_PRT), which can even exceed ACPI's 30 s
	# loop limit on a busy host, leaving virtio without interrupts (the 9p
	# mount then hangs): route PCI interrupts from the BIOS's $PIR table.
	if [ "$DEBUG" = 1 ]; then
		append+=" kasan_multi_shot rcupdate.rcu_cpu_stall_timeout=300"
		append+=" pci=noacpi"
		mem=2G
	fi

	cmd=("$QEMU" "${MACHINE[@]}"
		-accel "$ACCEL" -cpu "$CPU" "${ICOUNT[@]}"
		-m "${MQTT_VM_MEM:-$mem}" -smp "$SMP"
		-nographic -no-reboot -nic none
		-kernel "$KERNEL"
		-initrd "$WORK/initramfs.cpio.gz"
		-append "$append"
		-virtfs "local,path=$(qemu_path "$GUEST_ROOT"),mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
		-virtfs "local,path=$(qemu_path "$RESULTS"),mount_tag=results,security_model=none"
	)

	echo "run-vm.sh: booting $(basename "$KERNEL") ($ARCH) with accel ${ACCEL%%,*}${ICOUNT:+ (icount)}," \
		"mode $MODE, timeout ${TIMEOUT} s"
	: >"$RESULTS/console.log"
	timeout -k 10 "$TIMEOUT" "${cmd[@]}" \
		>"$RESULTS/console.log" 2>&1 </dev/null &
	QEMU_PID=$!

	if [ "$MODE" != check ] || [ "$VERBOSE" = 1 ]; then
		tail -n +1 -f --pid="$QEMU_PID" "$RESULTS/console.log" |
			clean_console &
		TAIL_PID=$!
	fi

	QEMU_RC=0
	wait "$QEMU_PID" || QEMU_RC=$?
	QEMU_PID=
	if [ -n "$TAIL_PID" ]; then
		wait "$TAIL_PID" 2>/dev/null || true
		TAIL_PID=
	fi
}

# ------------------------------------------------------------- summary --

PASSED=0
FAILED=0
SKIPPED=0

fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL: $*"
}

count() {
	# count PATTERN FILE: lines matching an extended regex, 0 if none
	grep -cE "$1" "$2" 2>/dev/null || true
}

summarize_test() {
	local path=$1 name=$2 log rc plan ok notok skip results why=

	log=$RESULTS/tests/$name.log
	rc=$(cat "$RESULTS/tests/$name.rc" 2>/dev/null || echo missing)

	echo
	echo "==== $path (exit status $rc) ===="
	[ -f "$log" ] && cat "$log"

	ok=$(grep -E '^ok ' "$log" 2>/dev/null | grep -civ '# SKIP' || true)
	skip=$(grep -E '^ok ' "$log" 2>/dev/null | grep -ci '# SKIP' || true)
	notok=$(count '^not ok ' "$log")
	PASSED=$((PASSED + ok))
	SKIPPED=$((SKIPPED + skip))
	FAILED=$((FAILED + notok))
	grep -E '^ok .*# SKIP' "$log" 2>/dev/null | sed "s|^|SKIP: ${path##*/}: |" || true

	plan=$(grep -m1 -oE '^1\.\.[0-9]+' "$log" 2>/dev/null || true)
	plan=${plan#1..}
	results=$((ok + skip + notok))

	# At most one extra failure per program, for what TAP cannot say.
	case $rc in
	missing)
		if [ -f "$log" ]; then
			why="did not finish (the VM stopped while it ran)"
		else
			why="did not run (the VM stopped before it)"
		fi
		;;
	notrun)		why="not run (the module did not load)" ;;
	124|137)	why="timed out after ${TEST_TIMEOUT} s (or was killed)" ;;
	*)
		if [ "$rc" -gt 128 ]; then
			why="killed by signal $((rc - 128))"
		elif [ -z "$plan" ]; then
			why="printed no TAP plan (crashed, or not a kselftest program)"
		elif [ "$plan" -eq 0 ] && [ "$results" -eq 0 ]; then
			# "1..0 # SKIP reason": the whole program skipped
			SKIPPED=$((SKIPPED + 1))
			echo "SKIP: ${path##*/}: whole program skipped"
		elif [ "$results" -ne "$plan" ]; then
			why="planned $plan tests but reported $results"
		elif [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ] && [ "$notok" -eq 0 ]; then
			why="exit status $rc but no failing test reported"
		fi
		;;
	esac
	[ -z "$why" ] || fail "${path}: $why"
}

KERNEL_LOG_PATTERNS='WARNING:|BUG:|Oops|KASAN|possible circular locking|lockdep|refcount_t:|general protection fault|Call Trace|UBSAN|kmemleak|INFO: task .* blocked'
# --debug: debug-objects reports too.  Not problems: the boot banners of
# RCU's lockdep checks, kmemleak and debug objects, and kmemleak's "N new suspected memory
# leaks" lines, which summarize_kmemleak judges from the final report (the
# boot-time scan's are cleared on purpose, see guest-init.sh).
DEBUG_LOG_PATTERNS='ODEBUG'
DEBUG_LOG_IGNORE='RCU lockdep checking is enabled|kmemleak: Kernel memory leak detector initialized|kmemleak: [0-9]+ new suspected memory leaks|ODEBUG: selftest passed|ODEBUG: [0-9]+ of [0-9]+ active objects replaced'

scan_kernel_log() {
	local file=$RESULTS/dmesg.txt hits

	if [ ! -s "$file" ]; then
		echo "run-vm.sh: no dmesg saved, scanning the console log instead"
		file=$RESULTS/console.log
	fi
	if [ "$DEBUG" = 1 ]; then
		hits=$(grep -E "$KERNEL_LOG_PATTERNS|$DEBUG_LOG_PATTERNS" \
			"$file" | grep -vE "$DEBUG_LOG_IGNORE" || true)
	else
		hits=$(grep -E "$KERNEL_LOG_PATTERNS" "$file" || true)
	fi
	if [ -n "$hits" ]; then
		echo
		echo "==== kernel log problems ($file) ===="
		echo "$hits"
		fail "kernel log contains warnings/bugs (see above and $file)"
	fi
}

summarize_vm() {
	local boot

	boot=$(cat "$RESULTS/boot-seconds" 2>/dev/null || echo '?')
	echo "run-vm.sh: VM exited after $((SECONDS - VM_START)) s" \
		"(guest booted in $boot s), results in $RESULTS"

	if [ ! -e "$RESULTS/done" ]; then
		echo
		echo "==== last 60 lines of the VM console ===="
		tail -n 60 "$RESULTS/console.log" | clean_console || true
		if [ "$QEMU_RC" -eq 124 ] || [ "$QEMU_RC" -eq 137 ]; then
			fail "VM timed out after ${TIMEOUT} s"
		else
			fail "VM did not finish (qemu exit status $QEMU_RC)"
		fi
	fi

	if [ -s "$RESULTS/setup-errors" ]; then
		while read -r line; do
			fail "VM setup: $line"
		done <"$RESULTS/setup-errors"
	fi
}

summarize_module_checks() {
	local file=$RESULTS/module-checks.tap n

	echo
	echo "==== module checks ===="
	[ -f "$file" ] && cat "$file"
	n=$(count '^ok ' "$file")
	PASSED=$((PASSED + n))
	n=$(count '^not ok ' "$file")
	FAILED=$((FAILED + n))
}

# KTAP of the KUnit module, from the guest's kernel log (kunit.log): each
# case, the results at the suite's indentation of four spaces, is one test
# (a parameterized case's parameters, at eight, are part of it).  A suite
# that printed no plan, fewer results than planned, or no result line of
# its own is one failure more.
summarize_kunit() {
	local file=$RESULTS/kunit.log ok skip notok plan results suites done

	echo
	echo "==== KUnit: ${KUNIT_MODULE##*/} ===="
	if [ ! -s "$file" ]; then
		fail "KUnit: no output (module not loaded, or the VM stopped)"
		return
	fi
	cat "$file"
	ok=$(grep -E '^    ok [0-9]+ ' "$file" | grep -cv '# SKIP' || true)
	skip=$(grep -E '^    ok [0-9]+ ' "$file" | grep -c '# SKIP' || true)
	notok=$(count '^    not ok [0-9]+ ' "$file")
	PASSED=$((PASSED + ok))
	SKIPPED=$((SKIPPED + skip))
	FAILED=$((FAILED + notok))
	grep -E '^    not ok [0-9]+ ' "$file" | sed 's/^ */FAIL: KUnit: /' || true

	plan=$(grep -E '^    1\.\.[0-9]+$' "$file" | sed 's/^ *1\.\.//' |
		awk '{ n += $1 } END { print n + 0 }')
	suites=$(count '^    # Subtest: ' "$file")
	done=$(count '^(not )?ok [0-9]+ ' "$file")
	results=$((ok + skip + notok))
	if [ "$suites" -eq 0 ] || [ "$plan" -eq 0 ]; then
		fail "KUnit: no suite or no plan in the output"
	elif [ "$results" -ne "$plan" ]; then
		fail "KUnit: planned $plan cases but reported $results"
	elif [ "$done" -lt "$suites" ]; then
		fail "KUnit: $suites suites started but only $done finished"
	fi
}

# --debug: the kmemleak report after the last rmmod must be empty.
summarize_kmemleak() {
	local file=$RESULTS/kmemleak.txt boot=$RESULTS/kmemleak-boot.txt n

	echo
	echo "==== kmemleak ===="
	if [ -s "$boot" ]; then
		n=$(grep -c '^unreferenced object' "$boot" || true)
		echo "cleared $n boot-time report(s) before the tests" \
			"(not the module's; see $boot)"
	fi
	if [ ! -f "$file" ]; then
		fail "kmemleak: no final report (kmemleak off, or the VM stopped)"
	elif [ -s "$file" ]; then
		cat "$file"
		n=$(grep -c '^unreferenced object' "$file" || true)
		fail "kmemleak: $n suspected leak(s) after the tests (see above)"
	else
		echo "no leaks"
	fi
}

# ---------------------------------------------------------------- main --

build_initramfs
pick_accel
prepare_share
VM_START=$SECONDS
run_qemu

case $MODE in
check)
	for i in "${!TESTS[@]}"; do
		summarize_test "${TESTS[$i]}" \
			"$(printf '%02d-%s' $((i + 1)) "${TESTS[$i]##*/}")"
	done
	summarize_module_checks
	[ -z "$KUNIT_MODULE" ] || summarize_kunit
	[ "$DEBUG" = 0 ] || summarize_kmemleak
	;;
run|bench)
	demo_rc=$(cat "$RESULTS/demo.rc" 2>/dev/null || echo missing)
	echo
	echo "run-vm.sh: $MODE exit status: $demo_rc"
	case $demo_rc in
	0)	;;
	*)	FAILED=$((FAILED + 1)) ;;
	esac
	summarize_module_checks
	;;
esac

echo
summarize_vm
scan_kernel_log

echo
if [ "$MODE" = check ] && [ "$PASSED" -eq 0 ]; then
	echo "run-vm.sh: no test passed"
fi
line="$PASSED passed, $FAILED failed"
[ "$SKIPPED" -eq 0 ] || line+=", $SKIPPED skipped"
echo "$line"

[ "$FAILED" -eq 0 ] && { [ "$MODE" != check ] || [ "$PASSED" -gt 0 ]; }
