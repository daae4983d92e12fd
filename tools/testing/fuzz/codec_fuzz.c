// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the AF_MQTT wire codec (net/mqtt/codec.c), built
 * in user space with AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * The first input byte selects a target, the rest is its data.  Every
 * decoder reads from a heap copy of exactly the bytes it is given, so a
 * read past them is an ASan report; every encoder writes into a heap
 * buffer of exactly the size its size function promised.  Results are
 * checked against small reference implementations written here from the
 * MQTT 3.1.1 standard, not from codec.c, and against the decoders'
 * prefix rules (-EAGAIN for every proper prefix of a valid field, the
 * same -EPROTO for every extension of a malformed one).
 *
 * Built with -DFUZZ_REPLAY (replay.c supplies main()) it runs inputs
 * given as files or directories once each: the regression mode.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../net/mqtt/codec.h"

/* A violated check: print what and abort, so libFuzzer saves the input. */
#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: check failed: %s\n",	\
				__FILE__, __LINE__, #cond);		\
			abort();					\
		}							\
	} while (0)

enum target {
	T_FIXED_HEADER,
	T_REMLEN,
	T_CONNACK,
	T_PUBLISH,
	T_ACK,
	T_CLIENT_FLAGS,
	T_UTF8,
	T_TOPIC_NAME,
	T_TOPIC_FILTER,
	T_RT_CONNECT,
	T_RT_PUBLISH,
	T_RT_SUBSCRIBE,
	T_STREAM,
	T_COUNT
};

/* Input reader: bytes run out into zeros, never past the end. */
struct in {
	const uint8_t *p;
	size_t len;
};

static uint8_t in_u8(struct in *in)
{
	uint8_t v;

	if (!in->len)
		return 0;
	v = *in->p++;
	in->len--;
	return v;
}

static uint16_t in_u16(struct in *in)
{
	uint16_t hi = in_u8(in);

	return hi << 8 | in_u8(in);
}

static uint32_t in_u32(struct in *in)
{
	uint32_t hi = in_u16(in);

	return hi << 16 | in_u16(in);
}

/* An exact-size heap copy: ASan catches the first byte read beyond it. */
static uint8_t *dup_exact(const uint8_t *p, size_t len)
{
	uint8_t *q = malloc(len ? len : 1);

	CHECK(q);
	if (len)
		memcpy(q, p, len);
	return q;
}

/* ---------------------------------------------------------------------- */
/* Reference implementations, from the standard                           */
/* ---------------------------------------------------------------------- */

/*
 * Remaining Length (2.2.3) as a state machine over the whole input:
 * returns bytes used, -EAGAIN or -EPROTO; rejects non-minimal forms as the
 * kernel documents (a final 0 digit after others).
 */
static int ref_remlen(const uint8_t *b, size_t len, uint32_t *val)
{
	uint32_t mult = 1, v = 0;
	size_t i;

	for (i = 0; i < 4; i++) {
		if (i == len)
			return -EAGAIN;
		v += (b[i] & 127) * mult;
		if (b[i] < 128) {
			if (i > 0 && b[i] == 0)
				return -EPROTO;
			*val = v;
			return i + 1;
		}
		mult *= 128;
	}
	return -EPROTO;
}

/* Well-formed UTF-8 per the Unicode standard's table 3-7, minus U+0000. */
static bool ref_utf8(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint8_t lo = 0x80, hi = 0xbf;
		size_t n, k;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			if (c == 0xe0)
				lo = 0xa0;
			if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			if (c == 0xf0)
				lo = 0x90;
			if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (len - i < n)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (k = 2; k < n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += n;
	}
	return true;
}

static bool ref_topic_name(const uint8_t *s, size_t len)
{
	return len >= 1 && len <= 65535 && !memchr(s, '+', len) &&
	       !memchr(s, '#', len) && ref_utf8(s, len);
}

/* Level by level: '+' and '#' only as whole levels, '#' only last. */
static bool ref_topic_filter(const uint8_t *s, size_t len)
{
	size_t start = 0, end;

	if (len < 1 || len > 65535)
		return false;
	for (;;) {
		const uint8_t *sep = memchr(s + start, '/', len - start);
		size_t lvl;

		end = sep ? (size_t)(sep - s) : len;
		lvl = end - start;
		if (memchr(s + start, '+', lvl) &&
		    (lvl != 1 || s[start] != '+'))
			return false;
		if (memchr(s + start, '#', lvl) &&
		    (lvl != 1 || s[start] != '#' || end != len))
			return false;
		if (!sep)
			break;
		start = end + 1;
	}
	return ref_utf8(s, len);
}

/* Type and flags a client may receive after CONNACK (2.2.2, 3.3.1). */
static bool ref_client_flags(uint8_t b)
{
	static const uint8_t ok[] = {
		0x30, 0x31, 0x32, 0x33, 0x34, 0x35,	/* PUBLISH, DUP 0 */
		0x3a, 0x3b, 0x3c, 0x3d,			/* PUBLISH QoS>0 DUP */
		0x40, 0x50, 0x62, 0x70, 0x90, 0xb0, 0xd0,
	};

	return memchr(ok, b, sizeof(ok)) != NULL;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---------------------------------------------------------------------- */
/* Decoders                                                               */
/* ---------------------------------------------------------------------- */

static void check_remlen_bytes(const uint8_t *b, size_t len)
{
	uint32_t v = 0xdeadbeef, rv = 0xdeadbeef;
	int n, rn;
	size_t k;

	n = mqtt_decode_remlen(b, len, &v);
	rn = ref_remlen(b, len, &rv);
	CHECK(n == rn);
	if (n > 0) {
		uint8_t enc[MQTT_REMLEN_MAX_BYTES];

		CHECK(v == rv && v <= MQTT_REMLEN_MAX);
		/* Minimal form: the encoder gives back the same bytes. */
		CHECK(mqtt_remlen_size(v) == (unsigned int)n);
		CHECK(mqtt_encode_remlen(enc, v) == (unsigned int)n);
		CHECK(!memcmp(enc, b, n));
		for (k = 0; k < (size_t)n; k++)
			CHECK(mqtt_decode_remlen(b, k, &v) == -EAGAIN);
	}
}

static void fuzz_fixed_header(const uint8_t *d, size_t len)
{
	uint8_t *b = dup_exact(d, len);
	uint32_t remlen = 0, rv;
	uint8_t byte1 = 0;
	int n, rn;

	n = mqtt_decode_fixed_header(b, len, &byte1, &remlen);
	rn = len ? ref_remlen(b + 1, len - 1, &rv) : -EAGAIN;
	CHECK(rn > 0 ? n == rn + 1 : n == rn);
	if (n > 0) {
		CHECK(n <= MQTT_FIXED_HDR_MAX && (size_t)n <= len);
		CHECK(byte1 == b[0] && remlen == rv);
		CHECK(remlen <= MQTT_REMLEN_MAX);
	}
	free(b);
}

static void fuzz_remlen(const uint8_t *d, size_t len)
{
	uint8_t *b = dup_exact(d, len);
	struct in in = { d, len };
	uint32_t v = in_u32(&in) % (MQTT_REMLEN_MAX + 1), got;
	unsigned int n = mqtt_remlen_size(v);
	uint8_t *enc = malloc(n);

	check_remlen_bytes(b, len);
	/* Encode any legal value into exactly its size, decode it back. */
	CHECK(enc && n >= 1 && n <= MQTT_REMLEN_MAX_BYTES);
	CHECK(mqtt_encode_remlen(enc, v) == n);
	CHECK(mqtt_decode_remlen(enc, n, &got) == (int)n && got == v);
	CHECK(n == (v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4));
	free(enc);
	free(b);
}

/* CONNACK is 20 02 0s cc, judged a byte at a time (3.2). */
static int ref_connack(const uint8_t *b, size_t len)
{
	if (len < 1)
		return -EAGAIN;
	if (b[0] != 0x20)
		return -EPROTO;
	if (len < 2)
		return -EAGAIN;
	if (b[1] != 2)
		return -EPROTO;
	if (len < 3)
		return -EAGAIN;
	if (b[2] > 1)
		return -EPROTO;
	if (len < 4)
		return -EAGAIN;
	if (b[2] == 1 && b[3] != 0)
		return -EPROTO;
	return 0;
}

static void fuzz_connack(const uint8_t *d, size_t len)
{
	struct mqtt_connack_info ack = { 0xaa, 0xaa };
	size_t k;

	for (k = 0; k <= len && k <= 8; k++) {
		uint8_t *b = dup_exact(d, k);
		int n = mqtt_decode_connack(b, k, &ack);

		CHECK(n == ref_connack(b, k));
		if (!n) {
			CHECK(ack.session_present == b[2]);
			CHECK(ack.return_code == b[3]);
		}
		free(b);
	}
}

static void check_publish(const uint8_t *b, uint32_t len, uint8_t byte1)
{
	struct mqtt_publish_info pub;
	uint8_t qos = (byte1 >> 1) & 3;
	uint32_t tl, off;
	int n, want = 0;

	memset(&pub, 0xa5, sizeof(pub));
	n = mqtt_decode_publish(b, len, byte1, &pub);
	/* The reference: topic name, then a non-zero id for QoS 1 and 2. */
	if (len < 2) {
		want = -EPROTO;
	} else {
		tl = be16(b);
		off = 2 + tl;
		if (off > len || !ref_topic_name(b + 2, tl))
			want = -EPROTO;
		else if (qos && (len - off < 2 || !be16(b + off)))
			want = -EPROTO;
	}
	CHECK(n == want);
	CHECK(pub.qos == qos);
	CHECK(pub.retain == !!(byte1 & 1) && pub.dup == !!(byte1 & 8));
	if (n)
		return;
	CHECK(pub.topic_off == 2 && pub.topic_len == be16(b));
	CHECK(pub.topic_off + pub.topic_len <= len);
	CHECK(pub.payload_off + pub.payload_len == len);
	CHECK(pub.payload_off == 2 + pub.topic_len + (qos ? 2 : 0));
	CHECK(qos ? pub.pid == be16(b + 2 + pub.topic_len) : pub.pid == 0);
}

/* Every byte 1 a client accepts for PUBLISH: QoS 0..2, DUP, retain. */
static const uint8_t publish_byte1[] = {
	0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x3a, 0x3b, 0x3c, 0x3d,
};

static void fuzz_publish(const uint8_t *d, size_t len)
{
	uint8_t *b = dup_exact(d, len);
	size_t i;

	for (i = 0; i < sizeof(publish_byte1); i++) {
		CHECK(mqtt_client_flags_valid(publish_byte1[i]));
		check_publish(b, len, publish_byte1[i]);
	}
	free(b);
}

static void fuzz_ack(const uint8_t *d, size_t len)
{
	uint8_t *b = dup_exact(d, len);
	uint16_t pid = 0x5a5a;
	int n = mqtt_decode_ack(b, len, &pid);

	uint16_t want = len >= 2 ? be16(d) : 1;
	uint8_t *e = malloc(MQTT_ACK_SIZE);
	uint8_t t;

	if (len != 2 || !be16(b))
		CHECK(n == -EPROTO);
	else
		CHECK(n == 0 && pid == be16(b));
	/* The acks the kernel writes, read back as a broker's would be. */
	CHECK(e);
	for (t = MQTT_PKT_PUBACK; t <= MQTT_PKT_PUBCOMP; t++) {
		CHECK(mqtt_encode_ack(e, t, want) == MQTT_ACK_SIZE);
		CHECK(e[0] == (t << 4 | (t == MQTT_PKT_PUBREL ? 2 : 0)));
		CHECK(e[1] == 2 && be16(e + 2) == want);
		CHECK(mqtt_client_flags_valid(e[0]));
		CHECK(mqtt_decode_ack(e + 2, 2, &pid) == (want ? 0 : -EPROTO));
	}
	CHECK(mqtt_encode_empty(e, MQTT_PKT_PINGREQ) == 2);
	CHECK(e[0] == 0xc0 && e[1] == 0);
	CHECK(mqtt_encode_empty(e, MQTT_PKT_DISCONNECT) == 2);
	CHECK(e[0] == 0xe0 && e[1] == 0);
	free(e);
	free(b);
}

static void fuzz_client_flags(const uint8_t *d, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		CHECK(mqtt_client_flags_valid(d[i]) == ref_client_flags(d[i]));
}

static void fuzz_utf8(const uint8_t *d, size_t len)
{
	uint8_t *b = dup_exact(d, len);

	CHECK(mqtt_utf8_valid(b, len) == ref_utf8(b, len));
	free(b);
}

static void fuzz_topic_name(const uint8_t *d, size_t len)
{
	uint8_t *b = dup_exact(d, len);

	CHECK(mqtt_topic_name_valid(b, len) == ref_topic_name(b, len));
	free(b);
}

static void fuzz_topic_filter(const uint8_t *d, size_t len)
{
	uint8_t *b = dup_exact(d, len);
	bool ok = mqtt_topic_filter_valid(b, len);

	CHECK(ok == ref_topic_filter(b, len));
	/* A valid name is a valid filter: a name has no wildcard. */
	if (mqtt_topic_name_valid(b, len))
		CHECK(ok);
	free(b);
}

/* ---------------------------------------------------------------------- */
/* Round trips                                                            */
/* ---------------------------------------------------------------------- */

/*
 * A field of the fuzzer's choosing: its length from two input bytes (so
 * lengths up to the 65535 limit are reached without 64 KiB inputs), its
 * bytes the rest of the input repeated.
 */
static uint8_t *make_field(struct in *in, struct mqtt_field *f, bool present)
{
	uint16_t n = in_u16(in);
	uint8_t *buf;
	uint32_t i;

	if (!present) {
		f->data = NULL;
		f->len = 0;
		return NULL;
	}
	/* Mostly short fields; occasionally the whole 16-bit range. */
	if (!(n & 0x8000))
		n &= 0xff;
	buf = malloc(n ? n : 1);
	CHECK(buf);
	for (i = 0; i < n; i++)
		buf[i] = in->len ? in->p[i % in->len] : (uint8_t)i;
	f->data = buf;
	f->len = n;
	return buf;
}

/* Reader over an encoded packet for the independent re-parse. */
struct pkt {
	const uint8_t *p;
	size_t len, off;
};

static uint8_t pkt_u8(struct pkt *k)
{
	CHECK(k->off < k->len);
	return k->p[k->off++];
}

static uint16_t pkt_u16(struct pkt *k)
{
	uint16_t hi = pkt_u8(k);

	return hi << 8 | pkt_u8(k);
}

static void pkt_field(struct pkt *k, const void *data, uint32_t len)
{
	CHECK(pkt_u16(k) == len);
	CHECK(k->len - k->off >= len);
	CHECK(!len || !memcmp(k->p + k->off, data, len));
	k->off += len;
}

/* Fixed header: byte 1 and a minimal Remaining Length equal to the rest. */
static void pkt_fixed(struct pkt *k, uint8_t byte1)
{
	uint32_t rem;
	int n;

	CHECK(pkt_u8(k) == byte1);
	n = ref_remlen(k->p + 1, k->len - 1, &rem);
	CHECK(n > 0);
	k->off += n;
	CHECK(rem == k->len - k->off);
}

static void fuzz_rt_connect(const uint8_t *d, size_t len)
{
	struct in in = { d, len };
	struct mqtt_connect_params p = { 0 };
	uint8_t sel = in_u8(&in), *fields[5], *buf;
	struct pkt k;
	size_t size, n;
	uint8_t flags = 0;
	const char *name;
	int i;

	p.level = sel & 1 ? MQTT_PROTOCOL_V31 : MQTT_PROTOCOL_V311;
	p.clean_session = sel & 2;
	p.will_retain = sel & 4;
	p.will_qos = (sel >> 3) % 3;
	p.keepalive = in_u16(&in);
	fields[0] = make_field(&in, &p.client_id, true);
	fields[1] = make_field(&in, &p.will_topic, sel & 0x20);
	fields[2] = make_field(&in, &p.will_message, sel & 0x20);
	fields[3] = make_field(&in, &p.username, sel & 0x40);
	fields[4] = make_field(&in, &p.password, sel & 0x80);

	size = mqtt_connect_size(&p);
	buf = malloc(size);
	CHECK(buf);
	n = mqtt_encode_connect(buf, &p);
	CHECK(n == size);

	/* Re-parse by 3.1: header, protocol name, level, flags, payload. */
	k = (struct pkt){ buf, n, 0 };
	pkt_fixed(&k, 0x10);
	name = p.level == MQTT_PROTOCOL_V31 ? "MQIsdp" : "MQTT";
	pkt_field(&k, name, strlen(name));
	CHECK(pkt_u8(&k) == p.level);
	if (p.username.data)
		flags |= 0x80;
	if (p.password.data)
		flags |= 0x40;
	if (p.will_topic.data)
		flags |= 0x04 | p.will_qos << 3 | (p.will_retain ? 0x20 : 0);
	if (p.clean_session)
		flags |= 0x02;
	CHECK(pkt_u8(&k) == flags);
	CHECK(!(flags & 0x01));			/* reserved [MQTT-3.1.2-3] */
	CHECK(pkt_u16(&k) == p.keepalive);
	pkt_field(&k, p.client_id.data, p.client_id.len);
	if (p.will_topic.data) {
		pkt_field(&k, p.will_topic.data, p.will_topic.len);
		pkt_field(&k, p.will_message.data, p.will_message.len);
	}
	if (p.username.data)
		pkt_field(&k, p.username.data, p.username.len);
	if (p.password.data)
		pkt_field(&k, p.password.data, p.password.len);
	CHECK(k.off == k.len);

	free(buf);
	for (i = 0; i < 5; i++)
		free(fields[i]);
}

/*
 * PUBLISH header from fuzzed QoS, retain, topic and payload lengths up to
 * the largest Remaining Length; small ones are completed into a whole
 * packet and given back to the decoders.
 */
static void fuzz_rt_publish(const uint8_t *d, size_t len)
{
	struct in in = { d, len };
	uint8_t sel = in_u8(&in), qos = sel % 3, byte1, *hdr, *whole;
	bool retain = sel & 4;
	uint32_t topic_len = in_u16(&in), rem, rem2;
	size_t payload_len = in_u32(&in), hlen, off;
	struct mqtt_publish_info pub;
	uint16_t pid = in_u16(&in);
	struct pkt k;
	u64 r;

	if (sel & 8)
		payload_len &= 0xff;
	r = mqtt_publish_remlen(topic_len, qos, payload_len);
	CHECK(r == 2 + (u64)topic_len + (qos ? 2 : 0) + payload_len);
	if (r > MQTT_REMLEN_MAX)
		return;		/* the caller refuses it (EMSGSIZE) */
	rem = r;
	hlen = 1 + mqtt_remlen_size(rem) + 2;
	CHECK(hlen <= MQTT_FIXED_HDR_MAX + MQTT_LEN_PREFIX);
	hdr = malloc(hlen);
	CHECK(hdr);
	CHECK(mqtt_encode_publish_header(hdr, qos, retain, rem, topic_len) ==
	      hlen);
	byte1 = 0x30 | qos << 1 | (retain ? 1 : 0);
	CHECK(hdr[0] == byte1);
	CHECK(ref_remlen(hdr + 1, hlen - 1, &rem2) == (int)(hlen - 3));
	CHECK(rem2 == rem);
	CHECK(be16(hdr + hlen - 2) == topic_len);

	/* Whole packet when small: topic from the input, decode it back. */
	if (topic_len <= 512 && payload_len <= 512) {
		size_t total = hlen + rem - 2, i;
		uint8_t b1;
		uint32_t rl;
		int n;

		whole = malloc(total);
		CHECK(whole);
		memcpy(whole, hdr, hlen);
		off = hlen;
		for (i = 0; i < topic_len; i++)
			whole[off++] = in.len ? in.p[i % in.len] : 'a';
		if (qos) {
			whole[off++] = pid >> 8;
			whole[off++] = pid;
		}
		for (i = 0; i < payload_len; i++)
			whole[off++] = (uint8_t)(i * 7);
		CHECK(off == total);

		n = mqtt_decode_fixed_header(whole, total, &b1, &rl);
		CHECK(n == (int)(hlen - 2) && b1 == byte1 && rl == rem);
		CHECK(mqtt_client_flags_valid(b1));
		k = (struct pkt){ whole, total, 0 };
		pkt_fixed(&k, byte1);
		n = mqtt_decode_publish(whole + hlen - 2, rem, b1, &pub);
		if (ref_topic_name(whole + hlen, topic_len) && (!qos || pid)) {
			CHECK(n == 0);
			CHECK(pub.qos == qos && pub.retain == retain &&
			      !pub.dup);
			CHECK(pub.topic_len == topic_len);
			CHECK(pub.pid == (qos ? pid : 0));
			CHECK(pub.payload_len == payload_len);
		} else {
			CHECK(n == -EPROTO);
		}
		free(whole);
	}
	free(hdr);
}

static void fuzz_rt_subscribe(const uint8_t *d, size_t len)
{
	struct in in = { d, len };
	uint8_t sel = in_u8(&in), qos = sel % 3, *buf, *filter;
	uint8_t type = sel & 4 ? MQTT_PKT_UNSUBSCRIBE : MQTT_PKT_SUBSCRIBE;
	uint16_t pid = in_u16(&in);
	struct mqtt_field f;
	size_t size, n;
	struct pkt k;
	uint32_t rem;

	filter = make_field(&in, &f, true);
	rem = 2 + 2 + f.len + (type == MQTT_PKT_SUBSCRIBE ? 1 : 0);
	size = mqtt_subscribe_size(type, f.len);
	CHECK(size == 1 + (rem < 128 ? 1 : rem < 16384 ? 2 : 3) + rem);
	buf = malloc(size);
	CHECK(buf);
	n = mqtt_encode_subscribe(buf, type, pid, f.data, f.len, qos);
	CHECK(n == size);
	/* 3.8 / 3.10: flags 0010, id, one filter, and the QoS byte. */
	k = (struct pkt){ buf, n, 0 };
	pkt_fixed(&k, type << 4 | 0x02);
	CHECK(pkt_u16(&k) == pid);
	pkt_field(&k, f.data, f.len);
	if (type == MQTT_PKT_SUBSCRIBE)
		CHECK(pkt_u8(&k) == qos);
	CHECK(k.off == k.len);
	free(buf);
	free(filter);
}

/* ---------------------------------------------------------------------- */
/* A stream, parsed as rx.c does: whole and in fuzzed pieces              */
/* ---------------------------------------------------------------------- */

#define STREAM_MAX_EVENTS	64

struct parser {
	uint8_t hdr[MQTT_FIXED_HDR_MAX];
	size_t hdr_len;
	bool body;
	uint32_t remlen, got;
	uint8_t *buf;
	/* A digest of what was accepted, to compare two chunkings. */
	uint32_t events[STREAM_MAX_EVENTS];
	unsigned int nev;
	int err;
};

static uint32_t digest(const uint8_t *p, size_t len, uint32_t h)
{
	while (len--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

/* Checks a client does on a complete header (rx.c, recv_max 4096). */
static int parser_header(struct parser *ps)
{
	uint8_t t = ps->hdr[0] >> 4;

	if (!mqtt_client_flags_valid(ps->hdr[0]))
		return -EPROTO;
	if (t == MQTT_PKT_PUBLISH)
		return ps->remlen > 4096 ? -EPROTO : 0;
	if (t == MQTT_PKT_SUBACK)
		return ps->remlen != MQTT_SUBACK_REMLEN ? -EPROTO : 0;
	if (t == MQTT_PKT_PINGRESP)
		return ps->remlen ? -EPROTO : 0;
	return ps->remlen != MQTT_ACK_REMLEN ? -EPROTO : 0;
}

static int parser_packet(struct parser *ps)
{
	uint8_t t = ps->hdr[0] >> 4;
	struct mqtt_publish_info pub;
	uint32_t ev = ps->hdr[0];
	uint16_t pid;
	int n = 0;

	if (t == MQTT_PKT_PUBLISH) {
		n = mqtt_decode_publish(ps->buf, ps->remlen, ps->hdr[0], &pub);
		if (!n) {
			CHECK(pub.payload_off + pub.payload_len == ps->remlen);
			ev = digest(ps->buf + pub.topic_off, pub.topic_len, ev);
			ev = digest(ps->buf + pub.payload_off,
				    pub.payload_len, ev) ^ pub.pid;
		}
	} else if (t != MQTT_PKT_PINGRESP) {
		n = mqtt_decode_ack(ps->buf, MQTT_ACK_REMLEN, &pid);
		ev ^= pid << 8;
	}
	if (!n && ps->nev < STREAM_MAX_EVENTS)
		ps->events[ps->nev++] = ev;
	return n;
}

/* Feed @len bytes; the state carries over to the next call. */
static void parser_feed(struct parser *ps, const uint8_t *p, size_t len)
{
	size_t used = 0, take;
	uint8_t byte1;
	int n;

	while (!ps->err) {
		while (!ps->body) {
			n = mqtt_decode_fixed_header(ps->hdr, ps->hdr_len,
						     &byte1, &ps->remlen);
			if (n > 0) {
				ps->err = parser_header(ps);
				if (ps->err)
					return;
				ps->body = true;
				ps->got = 0;
				free(ps->buf);
				ps->buf = malloc(ps->remlen ? ps->remlen : 1);
				CHECK(ps->buf);
				break;
			}
			if (n != -EAGAIN || ps->hdr_len == MQTT_FIXED_HDR_MAX) {
				ps->err = -EPROTO;
				return;
			}
			if (used == len)
				return;
			ps->hdr[ps->hdr_len++] = p[used++];
		}
		take = len - used;
		if (take > ps->remlen - ps->got)
			take = ps->remlen - ps->got;
		memcpy(ps->buf + ps->got, p + used, take);
		ps->got += take;
		used += take;
		if (ps->got < ps->remlen)
			return;
		ps->err = parser_packet(ps);
		ps->hdr_len = 0;
		ps->body = false;
	}
}

static void fuzz_stream(const uint8_t *d, size_t len)
{
	struct parser whole = { 0 }, pieces = { 0 };
	size_t off = 0, cut;
	uint8_t step;

	if (!len)
		return;
	/* First byte: piece sizes 1..16 stepped through; rest: the stream. */
	step = d[0];
	d++;
	len--;
	parser_feed(&whole, d, len);
	while (off < len) {
		cut = 1 + (step + off) % 16;
		if (cut > len - off)
			cut = len - off;
		parser_feed(&pieces, d + off, cut);
		off += cut;
	}
	CHECK(whole.err == pieces.err && whole.nev == pieces.nev);
	CHECK(!memcmp(whole.events, pieces.events,
		      whole.nev * sizeof(whole.events[0])));
	CHECK(whole.hdr_len == pieces.hdr_len && whole.body == pieces.body);
	free(whole.buf);
	free(pieces.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void (*const targets[T_COUNT])(const uint8_t *, size_t) = {
		[T_FIXED_HEADER] = fuzz_fixed_header,
		[T_REMLEN] = fuzz_remlen,
		[T_CONNACK] = fuzz_connack,
		[T_PUBLISH] = fuzz_publish,
		[T_ACK] = fuzz_ack,
		[T_CLIENT_FLAGS] = fuzz_client_flags,
		[T_UTF8] = fuzz_utf8,
		[T_TOPIC_NAME] = fuzz_topic_name,
		[T_TOPIC_FILTER] = fuzz_topic_filter,
		[T_RT_CONNECT] = fuzz_rt_connect,
		[T_RT_PUBLISH] = fuzz_rt_publish,
		[T_RT_SUBSCRIBE] = fuzz_rt_subscribe,
		[T_STREAM] = fuzz_stream,
	};

	if (!size)
		return 0;
	targets[data[0] % T_COUNT](data + 1, size - 1);
	return 0;
}
