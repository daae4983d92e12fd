#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Compile the C examples of the documentation, so that what a reader
# pastes builds.  Every C code block of README.md and
# Documentation/networking/*.rst is checked against uapi/linux/mqtt.h:
#
# - a block with main() is a complete program: it must compile and link
#   as it stands, with "cc -Wall -Werror -I uapi";
# - any other block is a fragment: it must compile (-fsyntax-only, unused
#   declarations allowed) either at file scope or as the body of a
#   function that has an AF_MQTT socket "fd" (a fragment may declare its
#   own), after the headers every fragment may assume (stdio, string,
#   errno, unistd, the socket API, <linux/errqueue.h>).
#
# Compiler messages point at the documentation's own file and line.
#
#   tools/testing/docs/check-examples.sh [FILE...]    (default: all docs)
#
# Exit status 0 when every example compiles, 1 otherwise.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
CC=${CC:-cc}
cd "$ROOT"

if [ $# -eq 0 ]; then
	set -- README.md Documentation/networking/*.rst
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Write each C block of $1 to $work/NNNN.c, its first line's number in
# $work/NNNN.line and its source file in $work/NNNN.file.
extract() {
	awk -v out="$work" -v src="$1" -v start="$(find "$work" -name "*.c" | wc -l)" '
	function flush(   i, n, f) {
		if (nlines == 0)
			return
		n = sprintf("%s/%04d", out, start + ++count)
		f = n ".c"
		for (i = 1; i <= nlines; i++)
			print substr(body[i], indent + 1) > f
		close(f)
		print first > (n ".line"); close(n ".line")
		print src > (n ".file"); close(n ".file")
		nlines = 0
	}
	function add(line, lineno,   m) {
		if (nlines == 0 && line ~ /^[ \t]*$/)
			return
		if (nlines == 0)
			first = lineno
		body[++nlines] = line
		if (line !~ /^[ \t]*$/) {
			match(line, /^ */)
			if (RLENGTH < indent)
				indent = RLENGTH
		}
	}
	# Markdown: ```c ... ```
	src ~ /\.md$/ {
		if (!inblock && $0 ~ /^```[cC][ \t]*$/) {
			inblock = 1; nlines = 0; indent = 0
			next
		}
		if (inblock && $0 ~ /^```/) {
			inblock = 0; flush()
			next
		}
		if (inblock)
			body[++nlines] = $0
		if (inblock && nlines == 1)
			first = FNR
		next
	}
	# reStructuredText: ".. code-block:: c", options, then the lines
	# indented deeper than the directive.
	{
		if (inblock) {
			match($0, /^ */)
			if ($0 !~ /^[ \t]*$/ && RLENGTH <= dirindent) {
				inblock = 0; flush()
			} else if (nlines == 0 && $0 ~ /^[ \t]*:[a-z-]+:/) {
				next
			} else {
				add($0, FNR)
				next
			}
		}
		if ($0 ~ /^[ \t]*\.\. (code-block|code|sourcecode)::[ \t]*[cC][ \t]*$/) {
			match($0, /^ */)
			dirindent = RLENGTH
			inblock = 1; nlines = 0; indent = 1000
		}
	}
	END { if (inblock) flush() }
	' "$1"
}

for f in "$@"; do
	extract "$f"
done

prelude() {
	cat <<'EOP'
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/errqueue.h>
#include <linux/mqtt.h>
EOP
}

CFLAGS=(-Wall -Werror -I "$ROOT/uapi")
total=0
failed=0
for c in "$work"/*.c; do
	[ -e "$c" ] || break
	n=${c%.c}
	file=$(cat "$n.file")
	line=$(cat "$n.line")
	total=$((total + 1))

	if grep -q '\<main[ \t]*(' "$c"; then
		kind="program"
		{ echo "#line $line \"$file\""; cat "$c"; } >"$n.prog.c"
		if "$CC" "${CFLAGS[@]}" -o "$n.out" "$n.prog.c" 2>"$n.err"; then
			continue
		fi
	else
		kind="fragment"
		# At file scope: a function or type definition.
		{ prelude; echo "#line $line \"$file\""; cat "$c"; } >"$n.top.c"
		# In a function: hoist the #include lines, keep line numbers.
		{
			prelude
			grep '^[ \t]*#[ \t]*include' "$c" || true
			echo "void doc_example(int fd);"
			echo "void doc_example(int fd) { (void)fd; {"
			echo "#line $line \"$file\""
			sed 's/^[ \t]*#[ \t]*include.*//' "$c"
			echo "} }"
		} >"$n.fn.c"
		if "$CC" "${CFLAGS[@]}" -Wno-unused -fsyntax-only "$n.top.c" \
			2>/dev/null; then
			continue
		fi
		if "$CC" "${CFLAGS[@]}" -Wno-unused -fsyntax-only "$n.fn.c" \
			2>"$n.err"; then
			continue
		fi
	fi
	failed=$((failed + 1))
	echo "$file:$line: this C $kind does not compile:" >&2
	sed 's/^/  /' "$n.err" >&2
done

if [ "$total" -eq 0 ]; then
	echo "check-examples: no C examples found in: $*" >&2
	exit 1
fi
echo "check-examples: $((total - failed)) of $total C examples compile" \
	"($*)"
[ "$failed" -eq 0 ]
