#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Writes the seed corpus of codec_fuzz into corpus/: one file per seed,
# its first byte the target selector of codec_fuzz.c (enum target), the
# rest the target's data.  Valid packets of each kind and the Remaining
# Length boundaries.  The files are committed; rerun after changing this.
set -e
cd "$(dirname "$0")"
rm -rf corpus
mkdir corpus

seed() {			# seed NAME SELECTOR HEXBYTES...
	local name=$1 sel=$2 hex
	shift 2
	hex=$(printf '%02x' "$sel")$(echo "$*" | tr -d ' ')
	printf '%s' "$hex" | xxd -r -p > "corpus/$name"
}

# 0 fixed header, 1 remlen: every boundary of table 2.4, and malformed.
for t in "0 fixed_header" "1 remlen"; do
	set -- $t
	p=$([ "$1" = 0 ] && echo 30 || echo)
	seed "$2-0" "$1" "$p 00"
	seed "$2-127" "$1" "$p 7f"
	seed "$2-128" "$1" "$p 80 01"
	seed "$2-16383" "$1" "$p ff 7f"
	seed "$2-16384" "$1" "$p 80 80 01"
	seed "$2-2097151" "$1" "$p ff ff 7f"
	seed "$2-2097152" "$1" "$p 80 80 80 01"
	seed "$2-268435455" "$1" "$p ff ff ff 7f"
	seed "$2-five-bytes" "$1" "$p ff ff ff ff 01"
	seed "$2-not-minimal" "$1" "$p 80 00"
	seed "$2-truncated" "$1" "$p ff ff"
done

# 2 CONNACK: accepted, session present, every refusal, malformed.
seed connack-accepted 2 20 02 00 00
seed connack-session 2 20 02 01 00
for c in 01 02 03 04 05 06 ff; do
	seed "connack-code-$c" 2 20 02 00 $c
done
seed connack-session-refused 2 20 02 01 05
seed connack-bad-flags 2 20 02 02 00
seed connack-bad-len 2 20 03 00 00

# 3 PUBLISH body (topic "a/b", id 1, payload "hi") and edge cases.
seed publish-qos0 3 00 03 61 2f 62 68 69
seed publish-qos12 3 00 03 61 2f 62 00 01 68 69
seed publish-empty-payload 3 00 01 74 00 01
seed publish-empty-topic 3 00 00 68 69
seed publish-wildcard 3 00 03 61 2f 23 00 01
seed publish-utf8 3 00 04 e2 82 ac 78 00 2a
seed publish-topic-too-long 3 00 09 61 62

# 4 acknowledgments.
seed ack-1 4 00 01
seed ack-ffff 4 ff ff
seed ack-zero 4 00 00
seed ack-long 4 00 01 00

# 5 every byte 1 a client may get, and a few it may not.
seed client-flags 5 30 31 32 33 34 35 3a 3b 3c 3d 40 50 62 70 90 b0 d0
seed client-flags-bad 5 00 10 20 36 38 60 80 a2 c0 e0 f0 41

# 6 UTF-8: each sequence length, and each kind of ill-formed one.
seed utf8-ascii 6 68 65 6c 6c 6f
seed utf8-all-lengths 6 41 c3 a9 e2 82 ac f0 9f 98 80
seed utf8-max 6 f4 8f bf bf
seed utf8-above-max 6 f4 90 80 80
seed utf8-surrogate 6 ed a0 80
seed utf8-overlong 6 c0 af
seed utf8-overlong3 6 e0 80 af
seed utf8-nul 6 61 00 62
seed utf8-truncated 6 e2 82

# 7 topic names, 8 topic filters.
seed topic-name 7 73 65 6e 73 6f 72 2f 74 65 6d 70
seed topic-name-slash 7 2f
seed topic-name-plus 7 61 2f 2b
seed filter-hash 8 23
seed filter-plus 8 2b 2f 2b 2f 23
seed filter-levels 8 61 2f 2b 2f 62 2f 23
seed filter-bad-hash 8 61 23
seed filter-hash-not-last 8 23 2f 61
seed filter-bad-plus 8 61 2b 2f 62
seed filter-empty-levels 8 2f 2f

# 9 CONNECT: selector bits (v3.1, clean, will retain, will QoS, will,
# user, password), keepalive, then each field's length and the bytes.
seed connect-minimal 9 02 00 3c 00 05 67 77 2d 31 37
seed connect-all 9 f6 ff ff 00 03 00 04 00 02 00 02 00 06 61 62 63
seed connect-v31-will 9 2d 00 00 00 01 00 01 00 00 78
seed connect-max-fields 9 e2 00 0a ff ff ff ff ff ff ff ff ff ff 61

# 10 PUBLISH header: selector (QoS, retain, small payload), topic length,
# payload length, packet id, then topic bytes.
seed publish-hdr-small 10 09 00 03 00 00 00 05 00 01 61 2f 62
seed publish-hdr-127 10 08 00 01 00 00 00 7c 00 00 61
seed publish-hdr-128 10 00 00 01 00 00 00 7d 00 00 61
seed publish-hdr-max 10 00 00 01 0f ff ff fc 00 00 61
seed publish-hdr-over 10 01 ff ff 0f ff ff ff 00 01

# 11 SUBSCRIBE / UNSUBSCRIBE: selector, id, filter length, filter.
seed subscribe 11 01 00 01 00 03 61 2f 23
seed unsubscribe 11 04 ff ff 00 01 2b
seed subscribe-long 11 02 12 34 ff ff 61

# 12 a stream as the broker sends it: CONNACK excluded, then packets.
seed stream-session 12 03 \
	30 07 00 03 61 2f 62 68 69 \
	32 09 00 03 61 2f 62 00 01 68 69 \
	34 09 00 03 61 2f 62 00 02 68 69 \
	62 02 00 02 40 02 00 05 50 02 00 06 70 02 00 06 \
	90 03 00 07 01 b0 02 00 08 d0 00
seed stream-bad-header 12 01 d0 00 e0 00
seed stream-big-remlen 12 05 30 ff ff ff 7f 00
