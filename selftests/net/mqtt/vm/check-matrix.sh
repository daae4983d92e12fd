#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-matrix: for each kernel of the matrix (kernels.sh list: the
# installed bookworm kernel, then the newest of bookworm-backports,
# trixie, sid and experimental), the module's W=1 + sparse build, then
# the whole "make check" suite in a VM booting that kernel.  One summary
# line per kernel, then the usual last line, summed over the kernels.
#
#   check-matrix.sh [RELEASE...]    only these kernels (default: all)
#
# The logs are in $MATRIX_LOGS (default .build/matrix/logs).

set -uo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$VM_DIR/../../../.." && pwd)
LOGS=${MATRIX_LOGS:-$REPO_ROOT/.build/matrix/logs}
MAKE=${MAKE:-make}
CACHE=${MQTT_KERNEL_CACHE:-/var/cache/mqtt-kernels}

if [ $# -gt 0 ]; then
	kernels=("$@")
else
	mapfile -t kernels < <("$VM_DIR/kernels.sh" list) ||
		{ echo "check-matrix: cannot list the kernels" >&2; exit 2; }
fi
[ ${#kernels[@]} -gt 0 ] || { echo "check-matrix: no kernel" >&2; exit 2; }
mkdir -p "$LOGS"

# What failed in a "make check" log: each failed test with the harness'
# lines of its run (at most 40), the kernel log's problems (at most 30
# lines) and run-vm.sh's FAIL lines (module checks, timeouts, ...).
failures() {
	awk '
	/^# +RUN / { n = 0 }
	{ if (n < 40) buf[n++] = $0 }
	/^not ok / && !/# SKIP/ {
		for (i = 0; i < n; i++)
			print "  " buf[i]
		n = 0
	}
	/^==== kernel log problems/ { klog = 1 }
	klog && klog++ <= 30 && !/^FAIL: / { print "  " $0 }
	/^FAIL: / { print "  " $0; klog = 0 }' "$1"
}

passed=0 failed=0 skipped=0
summary=() details=()
start=$SECONDS

for v in "${kernels[@]}"; do
	t0=$SECONDS
	p=0 f=0 s=0 warn=- note=

	# The W=1 + sparse build first: its log counts the warnings.
	if $MAKE -C "$REPO_ROOT" --no-print-directory sparse KVER="$v" \
		>"$LOGS/$v.sparse.log" 2>&1; then
		warn=$(grep -cE '(warning|error):' "$LOGS/$v.sparse.log" || true)
		if [ "$warn" -ne 0 ]; then
			f=$((f + 1))
			note+="; W=1/sparse warnings in $LOGS/$v.sparse.log"
		fi
	else
		f=$((f + 1))
		note+="; W=1/sparse build failed, see $LOGS/$v.sparse.log"
	fi

	$MAKE -C "$REPO_ROOT" --no-print-directory check KVER="$v" \
		>"$LOGS/$v.check.log" 2>&1
	rc=$?
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$LOGS/$v.check.log" | tail -n 1)
	if [ -n "$last" ]; then
		p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$last")
		f=$((f + $(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$last")))
		[[ $last != *skipped* ]] ||
			s=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$last")
	else
		f=$((f + 1))
		note+="; no result, see $LOGS/$v.check.log"
	fi
	[ "$rc" -eq 0 ] || [ -z "$last" ] || [[ $last != *" 0 failed"* ]] ||
		{ f=$((f + 1)); note+="; make check exit status $rc"; }

	what="installed"
	if [ -e "$CACHE/$v/release" ]; then
		what="$(cat "$CACHE/$v/release"), $(cat "$CACHE/$v/gcc")"
	fi
	line="matrix: $v ($what): $p passed, $f failed"
	[ "$s" -eq 0 ] || line+=", $s skipped"
	line+="; W=1/sparse warnings: $warn; $((SECONDS - t0)) s$note"
	summary+=("$line")
	echo "$line"
	if [ "$f" -ne 0 ] && [ -e "$LOGS/$v.check.log" ]; then
		details+=("==== $v: what failed ($LOGS/$v.check.log) ====")
		mapfile -t -O "${#details[@]}" details < <(failures "$LOGS/$v.check.log")
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done

if [ ${#details[@]} -gt 0 ]; then
	echo
	printf '%s\n' "${details[@]}"
fi
echo
echo "==== kernel matrix: ${#kernels[@]} kernels in $((SECONDS - start)) s ===="
printf '%s\n' "${summary[@]}"
echo
line="$passed passed, $failed failed"
[ "$skipped" -eq 0 ] || line+=", $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ]
