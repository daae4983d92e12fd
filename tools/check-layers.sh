#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Check that net/mqtt's layers call one way.  Reads the built objects
# (nm), so it sees every call the compiler emitted, macros included:
# for each object, the symbols it uses that another object defines.
# Prints each file's calls into the others, then fails on
#   - a call from a lower layer into a higher one, other than the named
#     upcall (the transport's callbacks and the timer kicking the
#     session);
#   - a global function whose prefix does not name its file;
#   - an object this table does not place.
#
#   tools/check-layers.sh [OBJDIR]   objects of net/mqtt (default: the
#                                    tree's net/mqtt, after "make")
#   tools/check-layers.sh --self-test
#                                    build two small objects with a
#                                    forbidden and an allowed call, and
#                                    check that the first fails and the
#                                    second passes
#
# Layers, highest first: a file may call files of a lower layer only
# (the two system-call files may also call each other).  Keep this table
# and the one in net/mqtt/af_mqtt.c's implementation notes the same.

set -euo pipefail

declare -A RANK=(
	[af_mqtt]=0 [sockopt]=0
	[session]=1
	[timers]=2
	[rx]=3
	[tx]=4
	[flow]=5 [config]=5
	[transport]=6
	[tls]=7
	[codec]=8
)
# The one way up: caller file, callee file, the functions it may call.
UPCALL_FROM="timers transport"
UPCALL_TO=session
UPCALL_SYMS="mqtt_session_kick mqtt_session_kick_data"
# What a global function of each file is called.  The codec's functions
# are named for the wire format (mqtt_encode_*, mqtt_decode_*, ...).
declare -A PREFIX=(
	[af_mqtt]='mqtt_sock_' [sockopt]='mqtt_sockopt_'
	[session]='mqtt_session_' [timers]='mqtt_timer_'
	[rx]='mqtt_rx(_|$)' [tx]='mqtt_tx_' [flow]='mqtt_flow_'
	[config]='mqtt_config_' [transport]='mqtt_transport_' [tls]='mqtt_tls_'
	[codec]='mqtt_'
)
# Module entry points the kernel's macros make global.
ENTRY='^(init_module|cleanup_module)$'

check() {
	local dir=$1 obj f g sym bad=0
	declare -A owner=() uses=()
	local files=()

	for obj in "$dir"/*.o; do
		f=$(basename "$obj" .o)
		case $f in
		*kunit*|*.mod) continue ;;	# the KUnit module, not mqtt.ko
		esac
		if [ -z "${RANK[$f]+x}" ]; then
			echo "check-layers: $f.o is in no layer: add it to $0" >&2
			bad=1
			continue
		fi
		files+=("$f")
		while read -r sym; do
			owner[$sym]=$f
			if ! [[ $sym =~ ^(${PREFIX[$f]}) || $sym =~ $ENTRY ]]; then
				echo "check-layers: $f.c: global $sym does not" \
					"start with ${PREFIX[$f]}" >&2
				bad=1
			fi
		done < <(nm -g --defined-only "$obj" | awk '{ print $3 }')
	done
	[ ${#files[@]} -gt 0 ] || { echo "check-layers: no objects in $dir" >&2; return 1; }

	for f in "${files[@]}"; do
		while read -r sym; do
			g=${owner[$sym]:-}
			[ -n "$g" ] && [ "$g" != "$f" ] || continue
			uses[$f:$g]+=" $sym"
		done < <(nm -u "$dir/$f.o" | awk '{ print $2 }' | sort -u)
	done

	for key in $(printf '%s\n' "${!uses[@]}" | sort); do
		f=${key%%:*}
		g=${key#*:}
		local verdict=ok
		if [ "${RANK[$g]}" -lt "${RANK[$f]}" ] ||
		   { [ "${RANK[$g]}" -eq "${RANK[$f]}" ] && [ "${RANK[$f]}" -ne 0 ]; }; then
			verdict=upcall
			for sym in ${uses[$key]}; do
				if ! [[ " $UPCALL_FROM " == *" $f "* &&
				        $g == "$UPCALL_TO" &&
				        " $UPCALL_SYMS " == *" $sym "* ]]; then
					verdict=FORBIDDEN
				fi
			done
		fi
		printf '%-10s -> %-10s %-9s%s\n' "$f" "$g" "$verdict" "${uses[$key]}"
		[ "$verdict" != FORBIDDEN ] || bad=1
	done

	if [ $bad -ne 0 ]; then
		echo "check-layers: FAILED" >&2
		return 1
	fi
	echo "check-layers: ${#files[@]} files, every call goes down or is the upcall"
}

self_test() {
	local tmp rc
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	mkdir "$tmp/bad" "$tmp/good"
	# tx calls the session: forbidden.
	echo 'void mqtt_session_fail(void) {}' > "$tmp/session.c"
	echo 'void mqtt_session_fail(void); void mqtt_tx_flush(void) { mqtt_session_fail(); }' \
		> "$tmp/tx.c"
	cc -c -o "$tmp/bad/session.o" "$tmp/session.c"
	cc -c -o "$tmp/bad/tx.o" "$tmp/tx.c"
	# The session calls tx, and the transport kicks the session.
	printf '%s\n' 'void mqtt_tx_flush(void);' \
		'void mqtt_session_kick(void) { mqtt_tx_flush(); }' > "$tmp/session.c"
	echo 'void mqtt_tx_flush(void) {}' > "$tmp/tx.c"
	printf '%s\n' 'void mqtt_session_kick(void);' \
		'void mqtt_transport_open(void) { mqtt_session_kick(); }' > "$tmp/transport.c"
	for f in session tx transport; do
		cc -c -o "$tmp/good/$f.o" "$tmp/$f.c"
	done
	rc=0
	if check "$tmp/bad" >/dev/null 2>&1; then
		echo "check-layers: self-test: a call from tx into the session passed" >&2
		rc=1
	fi
	if ! check "$tmp/good" >/dev/null 2>&1; then
		echo "check-layers: self-test: downward calls and the upcall failed" >&2
		rc=1
	fi
	[ $rc -ne 0 ] || echo "check-layers: self-test passed"
	return $rc
}

if [ "${1:-}" = --self-test ]; then
	self_test
	exit
fi
check "${1:-$(cd "$(dirname "$0")/.." && pwd)/net/mqtt}"
