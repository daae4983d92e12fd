// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the MQTT 3.1.1 codec (codec.c), built as the module
 * mqtt_codec_kunit.ko when the target kernel has CONFIG_KUNIT.
 *
 * Every decoder input is copied into a heap buffer of exactly its length,
 * so that KASAN reports any read past the end; every decoder also sees
 * every truncation of its input, which must give -EAGAIN or -EPROTO.
 */
#include <kunit/test.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "codec.h"

/* Designated initializers for a byte string and its length. */
#define BYTES(...) .bytes = (const u8 []){ __VA_ARGS__ }, \
	.len = sizeof((const u8 []){ __VA_ARGS__ })

/* A copy of @src in a buffer of exactly @len bytes (none for 0). */
static u8 *exact_copy(struct kunit *test, const u8 *src, size_t len)
{
	u8 *p;

	if (!len)
		return ZERO_SIZE_PTR;
	p = kunit_kmalloc(test, len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, p);
	memcpy(p, src, len);
	return p;
}

static void expect_bytes(struct kunit *test, const u8 *got, const u8 *want,
			 size_t len)
{
	KUNIT_EXPECT_TRUE_MSG(test, !memcmp(got, want, len),
			      "got  %*ph\nwant %*ph", (int)min_t(size_t, len, 64),
			      got, (int)min_t(size_t, len, 64), want);
}

/* ------------------------------------------------- Remaining Length -- */

struct remlen_case {
	const char *name;
	u32 value;
	const u8 *bytes;
	size_t len;
};

static const struct remlen_case remlen_cases[] = {
	{ "0", 0, BYTES(0x00) },
	{ "1", 1, BYTES(0x01) },
	{ "127", 127, BYTES(0x7f) },
	{ "128", 128, BYTES(0x80, 0x01) },
	{ "16383", 16383, BYTES(0xff, 0x7f) },
	{ "16384", 16384, BYTES(0x80, 0x80, 0x01) },
	{ "2097151", 2097151, BYTES(0xff, 0xff, 0x7f) },
	{ "2097152", 2097152, BYTES(0x80, 0x80, 0x80, 0x01) },
	{ "268435455", MQTT_REMLEN_MAX, BYTES(0xff, 0xff, 0xff, 0x7f) },
};

static void remlen_case_desc(const struct remlen_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s", c->name);
}

KUNIT_ARRAY_PARAM(remlen, remlen_cases, remlen_case_desc);

static void remlen_encode_test(struct kunit *test)
{
	const struct remlen_case *c = test->param_value;
	u8 buf[MQTT_REMLEN_MAX_BYTES + 1];

	memset(buf, 0xaa, sizeof(buf));
	KUNIT_EXPECT_EQ(test, mqtt_remlen_size(c->value), c->len);
	KUNIT_ASSERT_EQ(test, mqtt_encode_remlen(buf, c->value), c->len);
	expect_bytes(test, buf, c->bytes, c->len);
	/* Not one byte more. */
	KUNIT_EXPECT_EQ(test, buf[c->len], 0xaa);
}

static void remlen_decode_test(struct kunit *test)
{
	const struct remlen_case *c = test->param_value;
	u8 more[MQTT_REMLEN_MAX_BYTES + 2];
	size_t n;
	u32 v;
	int ret;

	/* Every truncation needs more bytes. */
	for (n = 0; n < c->len; n++) {
		v = 0xdeadbeef;
		ret = mqtt_decode_remlen(exact_copy(test, c->bytes, n), n, &v);
		KUNIT_EXPECT_EQ_MSG(test, ret, -EAGAIN, "prefix of %zu", n);
		KUNIT_EXPECT_EQ(test, v, 0xdeadbeef);
	}
	v = 0;
	ret = mqtt_decode_remlen(exact_copy(test, c->bytes, c->len), c->len,
				 &v);
	KUNIT_EXPECT_EQ(test, ret, (int)c->len);
	KUNIT_EXPECT_EQ(test, v, c->value);

	/* Bytes after the field are not part of it. */
	memcpy(more, c->bytes, c->len);
	memset(more + c->len, 0xff, sizeof(more) - c->len);
	v = 0;
	KUNIT_EXPECT_EQ(test, mqtt_decode_remlen(more, sizeof(more), &v),
			(int)c->len);
	KUNIT_EXPECT_EQ(test, v, c->value);
}

struct remlen_bad_case {
	const char *name;
	const u8 *bytes;
	size_t len;
	size_t bad_at;	/* prefixes longer than this are -EPROTO: four
			 * continuation bytes are already malformed
			 */
};

static const struct remlen_bad_case remlen_bad_cases[] = {
	{ "five bytes", BYTES(0xff, 0xff, 0xff, 0xff, 0x7f), 3 },
	{ "five bytes, value 0", BYTES(0x80, 0x80, 0x80, 0x80, 0x00), 3 },
	{ "four continuation bytes", BYTES(0x80, 0x80, 0x80, 0x80), 3 },
	{ "0 in two bytes", BYTES(0x80, 0x00), 1 },
	{ "127 in two bytes", BYTES(0xff, 0x00), 1 },
	{ "0 in three bytes", BYTES(0x80, 0x80, 0x00), 2 },
	{ "16383 in three bytes", BYTES(0xff, 0xff, 0x00), 2 },
	{ "0 in four bytes", BYTES(0x80, 0x80, 0x80, 0x00), 3 },
	{ "2097151 in four bytes", BYTES(0xff, 0xff, 0xff, 0x00), 3 },
};

static void remlen_bad_case_desc(const struct remlen_bad_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s", c->name);
}

KUNIT_ARRAY_PARAM(remlen_bad, remlen_bad_cases, remlen_bad_case_desc);

static void remlen_invalid_test(struct kunit *test)
{
	const struct remlen_bad_case *c = test->param_value;
	size_t n;
	u32 v;

	for (n = 0; n <= c->len; n++) {
		int want = n > c->bad_at ? -EPROTO : -EAGAIN;
		int ret;

		ret = mqtt_decode_remlen(exact_copy(test, c->bytes, n), n, &v);
		KUNIT_EXPECT_EQ_MSG(test, ret, want, "prefix of %zu", n);
	}
}

/* Encoding and decoding agree on every value around a size boundary. */
static void remlen_roundtrip_test(struct kunit *test)
{
	static const u32 centers[] = { 0, 128, 16384, 2097152, 268435455 };
	u8 buf[MQTT_REMLEN_MAX_BYTES];
	unsigned int i, n;
	int d;

	for (i = 0; i < ARRAY_SIZE(centers); i++) {
		for (d = -3; d <= 3; d++) {
			u32 value = centers[i] + d;
			u32 v = 0;

			if ((d < 0 && value > centers[i]) ||
			    value > MQTT_REMLEN_MAX)
				continue;
			n = mqtt_encode_remlen(buf, value);
			KUNIT_EXPECT_EQ(test, n, mqtt_remlen_size(value));
			KUNIT_EXPECT_EQ(test, mqtt_decode_remlen(buf, n, &v),
					(int)n);
			KUNIT_EXPECT_EQ(test, v, value);
		}
	}
}

/* --------------------------------------------------- fixed header -- */

/* Flag values a client accepts, bit F set for flags F, by packet type. */
static const u16 client_valid_flags[16] = {
	[MQTT_PKT_PUBLISH] = 0x3c3f,	/* QoS 0..2, DUP only with QoS > 0 */
	[MQTT_PKT_PUBACK] = 0x0001,
	[MQTT_PKT_PUBREC] = 0x0001,
	[MQTT_PKT_PUBREL] = 0x0004,	/* 0010 [MQTT-3.6.1-1] */
	[MQTT_PKT_PUBCOMP] = 0x0001,
	[MQTT_PKT_SUBACK] = 0x0001,
	[MQTT_PKT_UNSUBACK] = 0x0001,
	[MQTT_PKT_PINGRESP] = 0x0001,
};

static void client_flags_test(struct kunit *test)
{
	unsigned int type, flags;

	for (type = 0; type < 16; type++) {
		for (flags = 0; flags < 16; flags++) {
			u8 byte1 = MQTT_HDR(type, flags);
			bool want = client_valid_flags[type] & BIT(flags);

			KUNIT_EXPECT_EQ_MSG(test, mqtt_client_flags_valid(byte1),
					    want, "type %u flags %#x", type,
					    flags);
		}
	}
}

static void fixed_header_test(struct kunit *test)
{
	unsigned int b, i;

	/* Every first byte, with the shortest and the longest length. */
	for (b = 0; b < 256; b++) {
		const u8 zero[] = { b, 0x00 };
		const u8 max[] = { b, 0xff, 0xff, 0xff, 0x7f };
		u8 byte1 = ~b;
		u32 rem = 1;
		int ret;

		ret = mqtt_decode_fixed_header(exact_copy(test, zero, 2), 2,
					       &byte1, &rem);
		KUNIT_EXPECT_EQ(test, ret, 2);
		KUNIT_EXPECT_EQ(test, byte1, b);
		KUNIT_EXPECT_EQ(test, rem, 0);
		ret = mqtt_decode_fixed_header(exact_copy(test, max, 5), 5,
					       &byte1, &rem);
		KUNIT_EXPECT_EQ(test, ret, 5);
		KUNIT_EXPECT_EQ(test, rem, MQTT_REMLEN_MAX);
	}

	/* Truncations of every boundary length. */
	for (i = 0; i < ARRAY_SIZE(remlen_cases); i++) {
		const struct remlen_case *c = &remlen_cases[i];
		u8 hdr[MQTT_FIXED_HDR_MAX];
		size_t n;

		hdr[0] = MQTT_HDR(MQTT_PKT_PUBLISH, 0);
		memcpy(hdr + 1, c->bytes, c->len);
		for (n = 0; n <= c->len + 1; n++) {
			int want = n == c->len + 1 ? (int)n : -EAGAIN;
			u8 *in = exact_copy(test, hdr, n);
			u32 rem = 0;
			u8 byte1;
			int ret;

			ret = mqtt_decode_fixed_header(in, n, &byte1, &rem);
			KUNIT_EXPECT_EQ_MSG(test, ret, want, "%s: prefix of %zu",
					    c->name, n);
			if (want > 0)
				KUNIT_EXPECT_EQ(test, rem, c->value);
		}
	}

	/* A malformed length makes the header malformed. */
	for (i = 0; i < ARRAY_SIZE(remlen_bad_cases); i++) {
		const struct remlen_bad_case *c = &remlen_bad_cases[i];
		size_t n = 1 + c->len;
		u8 hdr[1 + 5];
		u8 byte1;
		u32 rem;
		int ret;

		hdr[0] = MQTT_HDR(MQTT_PKT_PUBACK, 0);
		memcpy(hdr + 1, c->bytes, c->len);
		ret = mqtt_decode_fixed_header(exact_copy(test, hdr, n), n,
					       &byte1, &rem);
		KUNIT_EXPECT_EQ_MSG(test, ret, -EPROTO, "%s", c->name);
	}
}

/* ---------------------------------------------------------- CONNECT -- */

#define FIELD(s) { .data = (const u8 *)(s), .len = sizeof(s) - 1 }

struct connect_case {
	const char *name;
	struct mqtt_connect_params p;
	const u8 *bytes;
	size_t len;
};

static const struct connect_case connect_cases[] = {
	{
		.name = "3.1.1 minimal",
		.p = { .client_id = FIELD("c"), .keepalive = 60,
		       .level = MQTT_PROTOCOL_V311, .clean_session = true },
		BYTES(0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'c'),
	}, {
		.name = "empty client id",
		.p = { .level = MQTT_PROTOCOL_V311, .clean_session = true },
		BYTES(0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, 0, 0),
	}, {
		.name = "3.1, no clean session",
		.p = { .client_id = FIELD("x"), .keepalive = 0x1234,
		       .level = MQTT_PROTOCOL_V31 },
		BYTES(0x10, 15, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x00,
		      0x12, 0x34, 0, 1, 'x'),
	}, {
		.name = "will QoS 1 retain, user, password",
		.p = { .client_id = FIELD("id"), .will_topic = FIELD("w/t"),
		       .will_message = FIELD("bye"), .username = FIELD("u"),
		       .password = FIELD("p"), .keepalive = 60,
		       .level = MQTT_PROTOCOL_V311, .will_qos = 1,
		       .will_retain = true, .clean_session = true },
		BYTES(0x10, 30, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xee, 0, 60,
		      0, 2, 'i', 'd', 0, 3, 'w', '/', 't', 0, 3, 'b', 'y', 'e',
		      0, 1, 'u', 0, 1, 'p'),
	}, {
		.name = "will QoS 2, empty message",
		.p = { .client_id = FIELD("c"), .will_topic = FIELD("t"),
		       .level = MQTT_PROTOCOL_V311, .will_qos = 2 },
		BYTES(0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x14, 0, 0,
		      0, 1, 'c', 0, 1, 't', 0, 0),
	}, {
		.name = "will QoS and retain without will",
		.p = { .client_id = FIELD("c"), .level = MQTT_PROTOCOL_V311,
		       .will_qos = 2, .will_retain = true,
		       .clean_session = true },
		BYTES(0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, 0, 1, 'c'),
	}, {
		.name = "user without password",
		.p = { .client_id = FIELD("c"), .username = FIELD("gw"),
		       .level = MQTT_PROTOCOL_V311, .clean_session = true },
		BYTES(0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x82, 0, 0, 0, 1, 'c',
		      0, 2, 'g', 'w'),
	}, {
		.name = "empty user and password",
		.p = { .client_id = FIELD("c"), .username = FIELD(""),
		       .password = FIELD(""), .level = MQTT_PROTOCOL_V311 },
		BYTES(0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xc0, 0, 0, 0, 1, 'c',
		      0, 0, 0, 0),
	}, {
		.name = "keepalive 65535",
		.p = { .client_id = FIELD("c"), .keepalive = 65535,
		       .level = MQTT_PROTOCOL_V311, .clean_session = true },
		BYTES(0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0xff, 0xff,
		      0, 1, 'c'),
	},
};

static void connect_case_desc(const struct connect_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s", c->name);
}

KUNIT_ARRAY_PARAM(connect, connect_cases, connect_case_desc);

static void connect_encode_test(struct kunit *test)
{
	const struct connect_case *c = test->param_value;
	u8 byte1 = 0;
	u32 rem = 0;
	u8 *buf, *pkt;
	size_t n;

	KUNIT_ASSERT_EQ(test, mqtt_connect_size(&c->p), c->len);
	buf = kunit_kmalloc(test, c->len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	KUNIT_ASSERT_EQ(test, mqtt_encode_connect(buf, &c->p), c->len);
	expect_bytes(test, buf, c->bytes, c->len);

	/* The fixed header reads back; truncations need more bytes. */
	for (n = 0; n <= c->len; n++) {
		pkt = exact_copy(test, c->bytes, n);
		KUNIT_EXPECT_EQ_MSG(test,
				    mqtt_decode_fixed_header(pkt, n, &byte1, &rem),
				    n < 2 ? -EAGAIN : 2, "prefix of %zu", n);
	}
	KUNIT_EXPECT_EQ(test, byte1, MQTT_HDR(MQTT_PKT_CONNECT, 0));
	KUNIT_EXPECT_EQ(test, rem, c->len - 2);
}

/* Long fields: multi-byte Remaining Length, fields of 65535 bytes. */
static void connect_long_test(struct kunit *test)
{
	static const u32 lens[] = { 115, 116, 200, 16370, 65535 };
	struct mqtt_connect_params p = { .level = MQTT_PROTOCOL_V311 };
	size_t size, hdr, rem;
	unsigned int i;
	u8 *data, *buf;
	u32 got;
	u8 byte1;

	data = kunit_kmalloc(test, MQTT_MAX_FIELD_LEN, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, data);
	memset(data, 'a', MQTT_MAX_FIELD_LEN);

	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		p.client_id = (struct mqtt_field){ data, lens[i] };
		rem = 2 + 4 + 4 + 2 + lens[i];
		hdr = 1 + mqtt_remlen_size(rem);
		size = mqtt_connect_size(&p);
		KUNIT_EXPECT_EQ(test, size, hdr + rem);
		buf = kunit_kmalloc(test, size, GFP_KERNEL);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
		KUNIT_EXPECT_EQ(test, mqtt_encode_connect(buf, &p), size);
		KUNIT_EXPECT_EQ(test,
				mqtt_decode_fixed_header(buf, size, &byte1, &got),
				(int)hdr);
		KUNIT_EXPECT_EQ(test, got, rem);
		KUNIT_EXPECT_EQ(test, buf[size - lens[i] - 2], lens[i] >> 8);
		KUNIT_EXPECT_EQ(test, buf[size - lens[i] - 1], lens[i] & 0xff);
		KUNIT_EXPECT_EQ(test, buf[size - 1], 'a');
		kunit_kfree(test, buf);
	}

	/* Every field at its maximum. */
	p.client_id = (struct mqtt_field){ data, MQTT_MAX_FIELD_LEN };
	p.will_topic = p.client_id;
	p.will_message = p.client_id;
	p.username = p.client_id;
	p.password = p.client_id;
	rem = 2 + 4 + 4 + 5 * (2 + MQTT_MAX_FIELD_LEN);
	size = mqtt_connect_size(&p);
	KUNIT_EXPECT_EQ(test, size, 1 + 3 + rem);
	buf = kunit_kmalloc(test, size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	KUNIT_EXPECT_EQ(test, mqtt_encode_connect(buf, &p), size);
	KUNIT_EXPECT_EQ(test, mqtt_decode_fixed_header(buf, size, &byte1, &got),
			4);
	KUNIT_EXPECT_EQ(test, got, rem);
	KUNIT_EXPECT_EQ(test, buf[1 + 3 + 2 + 4 + 1], 0xc4);
	KUNIT_EXPECT_EQ(test, buf[size - 1], 'a');
}

/* ---------------------------------------------------------- CONNACK -- */

struct connack_case {
	const char *name;
	const u8 *bytes;
	size_t len;
	int ret;		/* of the whole input */
	size_t bad_at;		/* -EPROTO: prefixes longer than this fail */
	u8 session_present;
	u8 return_code;
};

static const struct connack_case connack_cases[] = {
	{ "accepted", BYTES(0x20, 2, 0, 0), 0, 0, 0, 0 },
	{ "accepted, session present", BYTES(0x20, 2, 1, 0), 0, 0, 1, 0 },
	{ "refused 1", BYTES(0x20, 2, 0, 1), 0, 0, 0, 1 },
	{ "refused 5", BYTES(0x20, 2, 0, 5), 0, 0, 0, 5 },
	{ "reserved 6", BYTES(0x20, 2, 0, 6), 0, 0, 0, 6 },
	{ "reserved 255", BYTES(0x20, 2, 0, 255), 0, 0, 0, 255 },
	{ "followed by more", BYTES(0x20, 2, 1, 0, 0x30), 0, 0, 1, 0 },
	{ "flags 0001", BYTES(0x21, 2, 0, 0), -EPROTO, 0 },
	{ "flags 1000", BYTES(0x28, 2, 0, 0), -EPROTO, 0 },
	{ "PUBLISH", BYTES(0x30, 2, 0, 0), -EPROTO, 0 },
	{ "CONNECT", BYTES(0x10, 2, 0, 0), -EPROTO, 0 },
	{ "type 0", BYTES(0x00, 2, 0, 0), -EPROTO, 0 },
	{ "length 3", BYTES(0x20, 3, 0, 0, 0), -EPROTO, 1 },
	{ "length 0", BYTES(0x20, 0), -EPROTO, 1 },
	{ "length 2 in two bytes", BYTES(0x20, 0x82, 0x00, 0, 0), -EPROTO, 1 },
	{ "ack flags 0x02", BYTES(0x20, 2, 2, 0), -EPROTO, 2 },
	{ "ack flags 0x80", BYTES(0x20, 2, 0x80, 0), -EPROTO, 2 },
	{ "ack flags 0xff", BYTES(0x20, 2, 0xff, 0), -EPROTO, 2 },
	{ "session present with refusal", BYTES(0x20, 2, 1, 4), -EPROTO, 3 },
	{ "session present with 255", BYTES(0x20, 2, 1, 255), -EPROTO, 3 },
};

static void connack_case_desc(const struct connack_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s", c->name);
}

KUNIT_ARRAY_PARAM(connack, connack_cases, connack_case_desc);

static void connack_decode_test(struct kunit *test)
{
	const struct connack_case *c = test->param_value;
	struct mqtt_connack_info ack;
	size_t n;

	for (n = 0; n <= c->len; n++) {
		int want, ret;

		if (c->ret)
			want = n > c->bad_at ? -EPROTO : -EAGAIN;
		else
			want = n < MQTT_CONNACK_SIZE ? -EAGAIN : 0;
		memset(&ack, 0xaa, sizeof(ack));
		ret = mqtt_decode_connack(exact_copy(test, c->bytes, n), n,
					  &ack);
		KUNIT_EXPECT_EQ_MSG(test, ret, want, "prefix of %zu", n);
		if (want)
			continue;
		KUNIT_EXPECT_EQ(test, ack.session_present, c->session_present);
		KUNIT_EXPECT_EQ(test, ack.return_code, c->return_code);
	}
}

/* ------------------------------------------- acks and empty packets -- */

struct ack_case {
	const char *name;
	u8 type;
	u16 pid;
	const u8 *bytes;
	size_t len;
};

static const struct ack_case ack_cases[] = {
	{ "PUBACK", MQTT_PKT_PUBACK, 1, BYTES(0x40, 2, 0, 1) },
	{ "PUBREC", MQTT_PKT_PUBREC, 0x1234, BYTES(0x50, 2, 0x12, 0x34) },
	{ "PUBREL", MQTT_PKT_PUBREL, 0xffff, BYTES(0x62, 2, 0xff, 0xff) },
	{ "PUBREL 256", MQTT_PKT_PUBREL, 256, BYTES(0x62, 2, 1, 0) },
	{ "PUBCOMP", MQTT_PKT_PUBCOMP, 0x00ff, BYTES(0x70, 2, 0, 0xff) },
	{ "UNSUBACK", MQTT_PKT_UNSUBACK, 7, BYTES(0xb0, 2, 0, 7) },
};

static void ack_case_desc(const struct ack_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s", c->name);
}

KUNIT_ARRAY_PARAM(ack, ack_cases, ack_case_desc);

static void ack_encode_decode_test(struct kunit *test)
{
	const struct ack_case *c = test->param_value;
	u8 buf[MQTT_ACK_SIZE + 1];
	u8 byte1;
	u32 rem;
	u16 pid;
	size_t n;

	buf[MQTT_ACK_SIZE] = 0xaa;
	KUNIT_ASSERT_EQ(test, mqtt_encode_ack(buf, c->type, c->pid), c->len);
	expect_bytes(test, buf, c->bytes, c->len);
	KUNIT_EXPECT_EQ(test, buf[MQTT_ACK_SIZE], 0xaa);

	/* What a client receives reads back. */
	KUNIT_ASSERT_EQ(test,
			mqtt_decode_fixed_header(buf, c->len, &byte1, &rem), 2);
	KUNIT_EXPECT_TRUE(test, mqtt_client_flags_valid(byte1));
	KUNIT_EXPECT_EQ(test, rem, MQTT_ACK_REMLEN);
	pid = 0;
	KUNIT_EXPECT_EQ(test, mqtt_decode_ack(exact_copy(test, buf + 2, rem),
					      rem, &pid), 0);
	KUNIT_EXPECT_EQ(test, pid, c->pid);

	/* A body of any other length is malformed. */
	for (n = 0; n < rem; n++) {
		u8 *in = exact_copy(test, buf + 2, n);

		KUNIT_EXPECT_EQ(test, mqtt_decode_ack(in, n, &pid), -EPROTO);
	}
}

static void ack_decode_invalid_test(struct kunit *test)
{
	static const u8 zero[] = { 0, 0 };
	static const u8 three[] = { 0, 1, 0 };
	u16 pid;

	KUNIT_EXPECT_EQ(test, mqtt_decode_ack(exact_copy(test, zero, 2), 2,
					      &pid), -EPROTO);
	KUNIT_EXPECT_EQ(test, mqtt_decode_ack(exact_copy(test, three, 3), 3,
					      &pid), -EPROTO);
}

static void empty_packets_test(struct kunit *test)
{
	static const u8 pingreq[] = { 0xc0, 0x00 };
	static const u8 disconnect[] = { 0xe0, 0x00 };
	u8 buf[MQTT_EMPTY_PKT_SIZE + 1];
	u8 byte1;
	u32 rem;

	buf[MQTT_EMPTY_PKT_SIZE] = 0xaa;
	KUNIT_EXPECT_EQ(test, mqtt_encode_empty(buf, MQTT_PKT_PINGREQ),
			MQTT_EMPTY_PKT_SIZE);
	expect_bytes(test, buf, pingreq, sizeof(pingreq));
	KUNIT_EXPECT_EQ(test, mqtt_encode_empty(buf, MQTT_PKT_DISCONNECT),
			MQTT_EMPTY_PKT_SIZE);
	expect_bytes(test, buf, disconnect, sizeof(disconnect));
	KUNIT_EXPECT_EQ(test, buf[MQTT_EMPTY_PKT_SIZE], 0xaa);

	/* PINGRESP is what a client gets back. */
	buf[0] = MQTT_HDR(MQTT_PKT_PINGRESP, 0);
	buf[1] = 0;
	KUNIT_EXPECT_EQ(test, mqtt_decode_fixed_header(buf, 2, &byte1, &rem), 2);
	KUNIT_EXPECT_TRUE(test, mqtt_client_flags_valid(byte1));
	KUNIT_EXPECT_EQ(test, rem, 0);
}

/* ---------------------------------------------------------- PUBLISH -- */

struct publish_hdr_case {
	const char *name;
	u8 qos;
	bool retain;
	u32 remlen;
	u32 topic_len;
	const u8 *bytes;
	size_t len;
};

static const struct publish_hdr_case publish_hdr_cases[] = {
	{ "QoS 0", 0, false, 5, 3, BYTES(0x30, 5, 0, 3) },
	{ "QoS 0 retain", 0, true, 5, 3, BYTES(0x31, 5, 0, 3) },
	{ "QoS 1", 1, false, 127, 1, BYTES(0x32, 0x7f, 0, 1) },
	{ "QoS 1 retain", 1, true, 128, 256, BYTES(0x33, 0x80, 1, 1, 0) },
	{ "QoS 2", 2, false, 16383, 0xffff,
	  BYTES(0x34, 0xff, 0x7f, 0xff, 0xff) },
	{ "QoS 2 retain", 2, true, 16384, 2,
	  BYTES(0x35, 0x80, 0x80, 1, 0, 2) },
	{ "2097152", 1, false, 2097152, 9,
	  BYTES(0x32, 0x80, 0x80, 0x80, 1, 0, 9) },
	{ "largest", 0, false, MQTT_REMLEN_MAX, 65535,
	  BYTES(0x30, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff) },
};

static void publish_hdr_case_desc(const struct publish_hdr_case *c,
				  char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s", c->name);
}

KUNIT_ARRAY_PARAM(publish_hdr, publish_hdr_cases, publish_hdr_case_desc);

static void publish_header_test(struct kunit *test)
{
	const struct publish_hdr_case *c = test->param_value;
	u8 buf[MQTT_FIXED_HDR_MAX + MQTT_LEN_PREFIX + 1];
	size_t n;
	u8 byte1;
	u32 rem;
	int ret;

	memset(buf, 0xaa, sizeof(buf));
	n = mqtt_encode_publish_header(buf, c->qos, c->retain, c->remlen,
				       c->topic_len);
	KUNIT_ASSERT_EQ(test, n, c->len);
	expect_bytes(test, buf, c->bytes, c->len);
	KUNIT_EXPECT_EQ(test, buf[c->len], 0xaa);

	ret = mqtt_decode_fixed_header(buf, c->len, &byte1, &rem);
	KUNIT_EXPECT_EQ(test, ret, (int)c->len - MQTT_LEN_PREFIX);
	KUNIT_EXPECT_EQ(test, rem, c->remlen);
	KUNIT_EXPECT_TRUE(test, mqtt_client_flags_valid(byte1));
}

static void publish_remlen_test(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, mqtt_publish_remlen(1, 0, 0), 3);
	KUNIT_EXPECT_EQ(test, mqtt_publish_remlen(1, 1, 0), 5);
	KUNIT_EXPECT_EQ(test, mqtt_publish_remlen(3, 2, 10), 17);
	KUNIT_EXPECT_EQ(test, mqtt_publish_remlen(65535, 2, MQTT_REMLEN_MAX),
			(u64)MQTT_REMLEN_MAX + 65539);
	/* Sums past 32 bits are not cut. */
	KUNIT_EXPECT_EQ(test, mqtt_publish_remlen(65535, 1, U32_MAX),
			(u64)U32_MAX + 65539);
}

/* A whole PUBLISH, encoded and then received. */
static void publish_roundtrip_test(struct kunit *test)
{
	static const u8 topic[] = "sensors/17/temp";
	static const u32 payload_lens[] = { 0, 1, 100, 110, 111, 16375, 16400 };
	const u32 tlen = sizeof(topic) - 1;
	struct mqtt_publish_info pub;
	unsigned int i, qos;
	u8 *pkt, *body;

	for (qos = 0; qos <= MQTT_QOS_MAX; qos++) {
		for (i = 0; i < ARRAY_SIZE(payload_lens); i++) {
			u32 plen = payload_lens[i];
			u64 rem = mqtt_publish_remlen(tlen, qos, plen);
			size_t hdr, off;
			u32 got;
			u8 byte1;
			int ret;

			pkt = kunit_kmalloc(test, MQTT_FIXED_HDR_MAX + rem,
					    GFP_KERNEL);
			KUNIT_ASSERT_NOT_ERR_OR_NULL(test, pkt);
			hdr = mqtt_encode_publish_header(pkt, qos, qos == 1,
							 rem, tlen);
			memcpy(pkt + hdr, topic, tlen);
			off = hdr + tlen;
			if (qos) {
				pkt[off++] = 0xbe;
				pkt[off++] = 0xef;
			}
			memset(pkt + off, 'p', plen);

			hdr -= MQTT_LEN_PREFIX;
			ret = mqtt_decode_fixed_header(pkt, hdr + rem, &byte1,
						       &got);
			KUNIT_ASSERT_EQ(test, ret, (int)hdr);
			KUNIT_ASSERT_EQ(test, got, rem);
			KUNIT_ASSERT_TRUE(test, mqtt_client_flags_valid(byte1));
			body = exact_copy(test, pkt + hdr, rem);
			ret = mqtt_decode_publish(body, rem, byte1, &pub);
			KUNIT_ASSERT_EQ(test, ret, 0);
			KUNIT_EXPECT_EQ(test, pub.qos, qos);
			KUNIT_EXPECT_EQ(test, pub.retain, qos == 1);
			KUNIT_EXPECT_FALSE(test, pub.dup);
			KUNIT_EXPECT_EQ(test, pub.pid, qos ? 0xbeef : 0);
			KUNIT_EXPECT_EQ(test, pub.topic_off, MQTT_LEN_PREFIX);
			KUNIT_EXPECT_EQ(test, pub.topic_len, tlen);
			KUNIT_EXPECT_EQ(test, pub.payload_off,
					MQTT_LEN_PREFIX + tlen + (qos ? 2 : 0));
			KUNIT_EXPECT_EQ(test, pub.payload_len, plen);
			kunit_kfree(test, body);
			kunit_kfree(test, pkt);
		}
	}
}

struct publish_case {
	const char *name;
	u8 flags;
	const u8 *bytes;
	size_t len;
	int ret;
	u32 topic_len;
	u16 pid;
	u32 payload_off;
};

static const struct publish_case publish_cases[] = {
	{ "QoS 0", 0x0, BYTES(0, 3, 'a', '/', 'b', 'h', 'i'), 0, 3, 0, 5 },
	{ "QoS 0 empty payload", 0x0, BYTES(0, 1, 't'), 0, 1, 0, 3 },
	{ "QoS 1", 0x2, BYTES(0, 1, 't', 1, 2, 'x'), 0, 1, 0x102, 5 },
	{ "QoS 2 empty payload", 0x4, BYTES(0, 1, 't', 0, 7), 0, 1, 7, 5 },
	{ "QoS 1 DUP retain", 0xb, BYTES(0, 1, 't', 0xff, 0xff), 0, 1,
	  0xffff, 5 },
	{ "UTF-8 topic", 0x0, BYTES(0, 4, 0xc3, 0xa9, '/', 'x', 'y'), 0, 4, 0,
	  6 },
	{ "payload with zeros", 0x0, BYTES(0, 1, 't', 0, 0, 0), 0, 1, 0, 3 },
	{ "one byte", 0x0, BYTES(0), -EPROTO },
	{ "empty topic", 0x0, BYTES(0, 0, 'x'), -EPROTO },
	{ "topic longer than body", 0x0, BYTES(0, 5, 'a', 'b'), -EPROTO },
	{ "topic length 65535", 0x0, BYTES(0xff, 0xff, 'a'), -EPROTO },
	{ "topic with +", 0x0, BYTES(0, 3, 'a', '/', '+'), -EPROTO },
	{ "topic #", 0x0, BYTES(0, 1, '#', 'x'), -EPROTO },
	{ "topic with NUL", 0x0, BYTES(0, 2, 'a', 0), -EPROTO },
	{ "topic bad UTF-8", 0x0, BYTES(0, 2, 0xc3, 0x28), -EPROTO },
	{ "topic cut UTF-8", 0x0, BYTES(0, 1, 0xc3, 0xa9), -EPROTO },
	{ "QoS 1 pid 0", 0x2, BYTES(0, 1, 't', 0, 0, 'x'), -EPROTO },
	{ "QoS 2 pid 0", 0x4, BYTES(0, 1, 't', 0, 0), -EPROTO },
	{ "QoS 1 no pid", 0x2, BYTES(0, 1, 't'), -EPROTO },
	{ "QoS 1 half pid", 0x2, BYTES(0, 1, 't', 1), -EPROTO },
};

static void publish_case_desc(const struct publish_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s", c->name);
}

KUNIT_ARRAY_PARAM(publish, publish_cases, publish_case_desc);

static void publish_decode_test(struct kunit *test)
{
	const struct publish_case *c = test->param_value;
	u8 byte1 = MQTT_HDR(MQTT_PKT_PUBLISH, c->flags);
	struct mqtt_publish_info pub;
	size_t len = c->len;
	size_t n;
	int ret;

	KUNIT_ASSERT_TRUE(test, mqtt_client_flags_valid(byte1));
	ret = mqtt_decode_publish(exact_copy(test, c->bytes, len), len, byte1,
				  &pub);
	KUNIT_ASSERT_EQ(test, ret, c->ret);
	if (!c->ret) {
		KUNIT_EXPECT_EQ(test, pub.qos, (c->flags >> 1) & 3);
		KUNIT_EXPECT_EQ(test, pub.retain, !!(c->flags & 1));
		KUNIT_EXPECT_EQ(test, pub.dup, !!(c->flags & 8));
		KUNIT_EXPECT_EQ(test, pub.topic_off, MQTT_LEN_PREFIX);
		KUNIT_EXPECT_EQ(test, pub.topic_len, c->topic_len);
		KUNIT_EXPECT_EQ(test, pub.pid, c->pid);
		KUNIT_EXPECT_EQ(test, pub.payload_off, c->payload_off);
		KUNIT_EXPECT_EQ(test, pub.payload_len, len - c->payload_off);
	}

	/* Every truncation, the empty body included, is malformed or a
	 * shorter but consistent PUBLISH.
	 */
	for (n = 0; n < len; n++) {
		ret = mqtt_decode_publish(exact_copy(test, c->bytes, n), n,
					  byte1, &pub);
		KUNIT_EXPECT_TRUE_MSG(test, !ret || ret == -EPROTO,
				      "prefix of %zu: %d", n, ret);
		if (ret)
			continue;
		KUNIT_EXPECT_LE(test, pub.topic_off + pub.topic_len,
				pub.payload_off);
		KUNIT_EXPECT_EQ(test, pub.payload_off + pub.payload_len, n);
	}
}

/* ------------------------------------------ SUBSCRIBE, UNSUBSCRIBE -- */

struct subscribe_case {
	const char *name;
	u8 type;
	u16 pid;
	const char *filter;
	u8 qos;
	const u8 *bytes;
	size_t len;
};

static const struct subscribe_case subscribe_cases[] = {
	{ "SUBSCRIBE QoS 0", MQTT_PKT_SUBSCRIBE, 1, "a", 0,
	  BYTES(0x82, 6, 0, 1, 0, 1, 'a', 0) },
	{ "SUBSCRIBE QoS 1", MQTT_PKT_SUBSCRIBE, 10, "a/#", 1,
	  BYTES(0x82, 8, 0, 10, 0, 3, 'a', '/', '#', 1) },
	{ "SUBSCRIBE QoS 2", MQTT_PKT_SUBSCRIBE, 0xfffe, "+/+", 2,
	  BYTES(0x82, 8, 0xff, 0xfe, 0, 3, '+', '/', '+', 2) },
	{ "UNSUBSCRIBE", MQTT_PKT_UNSUBSCRIBE, 10, "a/#", 0,
	  BYTES(0xa2, 7, 0, 10, 0, 3, 'a', '/', '#') },
	{ "UNSUBSCRIBE pid 65535", MQTT_PKT_UNSUBSCRIBE, 0xffff, "#", 0,
	  BYTES(0xa2, 5, 0xff, 0xff, 0, 1, '#') },
};

static void subscribe_case_desc(const struct subscribe_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s", c->name);
}

KUNIT_ARRAY_PARAM(subscribe, subscribe_cases, subscribe_case_desc);

static void subscribe_encode_test(struct kunit *test)
{
	const struct subscribe_case *c = test->param_value;
	const u8 *filter = (const u8 *)c->filter;
	u32 flen = strlen(c->filter);
	size_t n;
	u8 *buf;

	KUNIT_ASSERT_EQ(test, mqtt_subscribe_size(c->type, flen), c->len);
	buf = kunit_kmalloc(test, c->len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	n = mqtt_encode_subscribe(buf, c->type, c->pid, filter, flen, c->qos);
	KUNIT_ASSERT_EQ(test, n, c->len);
	expect_bytes(test, buf, c->bytes, c->len);
	/* A server never sends these. */
	KUNIT_EXPECT_FALSE(test, mqtt_client_flags_valid(buf[0]));
}

static void subscribe_long_test(struct kunit *test)
{
	static const u32 lens[] = { 121, 122, 123, 16377, 16378, 65535 };
	unsigned int i, t;
	u8 *filter, *buf;

	filter = kunit_kmalloc(test, MQTT_MAX_FIELD_LEN, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, filter);
	memset(filter, 'f', MQTT_MAX_FIELD_LEN);

	for (t = 0; t < 2; t++) {
		u8 type = t ? MQTT_PKT_UNSUBSCRIBE : MQTT_PKT_SUBSCRIBE;

		for (i = 0; i < ARRAY_SIZE(lens); i++) {
			u32 rem = 2 + 2 + lens[i] + !t;
			size_t size = 1 + mqtt_remlen_size(rem) + rem;
			size_t n;
			u32 got;
			u8 byte1;
			int ret;

			n = mqtt_subscribe_size(type, lens[i]);
			KUNIT_EXPECT_EQ(test, n, size);
			buf = kunit_kmalloc(test, size, GFP_KERNEL);
			KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
			n = mqtt_encode_subscribe(buf, type, 5, filter, lens[i],
						  1);
			KUNIT_EXPECT_EQ(test, n, size);
			ret = mqtt_decode_fixed_header(buf, size, &byte1, &got);
			KUNIT_EXPECT_EQ(test, ret, (int)(size - rem));
			KUNIT_EXPECT_EQ(test, got, rem);
			KUNIT_EXPECT_EQ(test, buf[size - 1], t ? 'f' : 1);
			kunit_kfree(test, buf);
		}
	}
}

/* -------------------------------------------- UTF-8 and topic names -- */

struct string_case {
	const char *name;
	const u8 *bytes;
	size_t len;
	bool valid;
};

static void string_case_desc(const struct string_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s", c->name);
}

static const struct string_case utf8_cases[] = {
	{ "ASCII", BYTES('a', 'b', 'c'), true },
	{ "U+0001", BYTES(0x01), true },
	{ "U+007F", BYTES(0x7f), true },
	{ "U+0080", BYTES(0xc2, 0x80), true },
	{ "U+07FF", BYTES(0xdf, 0xbf), true },
	{ "U+0800", BYTES(0xe0, 0xa0, 0x80), true },
	{ "U+D7FF", BYTES(0xed, 0x9f, 0xbf), true },
	{ "U+E000", BYTES(0xee, 0x80, 0x80), true },
	{ "U+FEFF", BYTES(0xef, 0xbb, 0xbf), true },
	{ "U+FFFF", BYTES(0xef, 0xbf, 0xbf), true },
	{ "U+10000", BYTES(0xf0, 0x90, 0x80, 0x80), true },
	{ "U+10FFFF", BYTES(0xf4, 0x8f, 0xbf, 0xbf), true },
	{ "mixed", BYTES('a', 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98,
			 0x80, 'z'), true },
	{ "U+0000", BYTES(0x00), false },
	{ "NUL inside", BYTES('a', 0x00, 'b'), false },
	{ "overlong NUL", BYTES(0xc0, 0x80), false },
	{ "overlong 2 bytes", BYTES(0xc1, 0xbf), false },
	{ "overlong 3 bytes", BYTES(0xe0, 0x9f, 0xbf), false },
	{ "overlong 3 bytes 0", BYTES(0xe0, 0x80, 0x80), false },
	{ "overlong 4 bytes", BYTES(0xf0, 0x8f, 0xbf, 0xbf), false },
	{ "surrogate D800", BYTES(0xed, 0xa0, 0x80), false },
	{ "surrogate DFFF", BYTES(0xed, 0xbf, 0xbf), false },
	{ "U+110000", BYTES(0xf4, 0x90, 0x80, 0x80), false },
	{ "lead F5", BYTES(0xf5, 0x80, 0x80, 0x80), false },
	{ "lead F7", BYTES(0xf7, 0xbf, 0xbf, 0xbf), false },
	{ "5 bytes", BYTES(0xf8, 0x88, 0x80, 0x80, 0x80), false },
	{ "6 bytes", BYTES(0xfc, 0x84, 0x80, 0x80, 0x80, 0x80), false },
	{ "FE", BYTES(0xfe), false },
	{ "FF", BYTES(0xff), false },
	{ "lone continuation", BYTES(0x80), false },
	{ "continuation BF", BYTES('a', 0xbf), false },
	{ "cut 2 bytes", BYTES(0xc2), false },
	{ "cut 3 bytes", BYTES(0xe0, 0xa0), false },
	{ "cut 4 bytes", BYTES(0xf0, 0x90, 0x80), false },
	{ "cut at end", BYTES('a', 'b', 0xc3), false },
	{ "bad continuation", BYTES(0xc2, 0x41), false },
	{ "bad 3rd byte", BYTES(0xe0, 0xa0, 0xc0), false },
	{ "bad 4th byte", BYTES(0xf0, 0x90, 0x80, 0x7f), false },
};

KUNIT_ARRAY_PARAM(utf8, utf8_cases, string_case_desc);

static void utf8_test(struct kunit *test)
{
	const struct string_case *c = test->param_value;
	u8 *in = exact_copy(test, c->bytes, c->len);
	size_t n;

	KUNIT_EXPECT_EQ(test, mqtt_utf8_valid(in, c->len), c->valid);
	/* Prefixes: no read past the end; the empty string is valid. */
	for (n = 0; n < c->len; n++)
		mqtt_utf8_valid(exact_copy(test, c->bytes, n), n);
	KUNIT_EXPECT_TRUE(test, mqtt_utf8_valid(ZERO_SIZE_PTR, 0));
}

static const struct string_case topic_name_cases[] = {
	{ "a", BYTES('a'), true },
	{ "a/b", BYTES('a', '/', 'b'), true },
	{ "/", BYTES('/'), true },
	{ "//", BYTES('/', '/'), true },
	{ "/a/", BYTES('/', 'a', '/'), true },
	{ "space", BYTES(' '), true },
	{ "$SYS/x", BYTES('$', 'S', 'Y', 'S', '/', 'x'), true },
	{ "UTF-8", BYTES(0xc3, 0xa9, '/', 0xe2, 0x82, 0xac), true },
	{ "+", BYTES('+'), false },
	{ "#", BYTES('#'), false },
	{ "a/+", BYTES('a', '/', '+'), false },
	{ "a/#", BYTES('a', '/', '#'), false },
	{ "a+b", BYTES('a', '+', 'b'), false },
	{ "a#", BYTES('a', '#'), false },
	{ "NUL", BYTES('a', 0), false },
	{ "bad UTF-8", BYTES('a', 0xff), false },
	{ "surrogate", BYTES(0xed, 0xa0, 0x80), false },
};

KUNIT_ARRAY_PARAM(topic_name, topic_name_cases, string_case_desc);

static void topic_name_test(struct kunit *test)
{
	const struct string_case *c = test->param_value;
	u8 *in = exact_copy(test, c->bytes, c->len);
	size_t n;

	KUNIT_EXPECT_EQ(test, mqtt_topic_name_valid(in, c->len), c->valid);
	for (n = 0; n < c->len; n++)
		mqtt_topic_name_valid(exact_copy(test, c->bytes, n), n);
}

static const struct string_case topic_filter_cases[] = {
	{ "a", BYTES('a'), true },
	{ "#", BYTES('#'), true },
	{ "+", BYTES('+'), true },
	{ "/", BYTES('/'), true },
	{ "a/#", BYTES('a', '/', '#'), true },
	{ "/#", BYTES('/', '#'), true },
	{ "a/+", BYTES('a', '/', '+'), true },
	{ "+/+", BYTES('+', '/', '+'), true },
	{ "/+", BYTES('/', '+'), true },
	{ "+/", BYTES('+', '/'), true },
	{ "+/#", BYTES('+', '/', '#'), true },
	{ "a/+/b", BYTES('a', '/', '+', '/', 'b'), true },
	{ "+//+", BYTES('+', '/', '/', '+'), true },
	{ "UTF-8", BYTES(0xc3, 0xa9, '/', '+'), true },
	{ "a#", BYTES('a', '#'), false },
	{ "#a", BYTES('#', 'a'), false },
	{ "##", BYTES('#', '#'), false },
	{ "#/", BYTES('#', '/'), false },
	{ "#/a", BYTES('#', '/', 'a'), false },
	{ "a/#/b", BYTES('a', '/', '#', '/', 'b'), false },
	{ "a+", BYTES('a', '+'), false },
	{ "+a", BYTES('+', 'a'), false },
	{ "++", BYTES('+', '+'), false },
	{ "a/b+", BYTES('a', '/', 'b', '+'), false },
	{ "a/+b/c", BYTES('a', '/', '+', 'b', '/', 'c'), false },
	{ "+#", BYTES('+', '#'), false },
	{ "NUL", BYTES('a', '/', 0), false },
	{ "bad UTF-8", BYTES('+', '/', 0xc0, 0x80), false },
};

KUNIT_ARRAY_PARAM(topic_filter, topic_filter_cases, string_case_desc);

static void topic_filter_test(struct kunit *test)
{
	const struct string_case *c = test->param_value;
	u8 *in = exact_copy(test, c->bytes, c->len);
	size_t n;

	KUNIT_EXPECT_EQ(test, mqtt_topic_filter_valid(in, c->len), c->valid);
	for (n = 0; n < c->len; n++)
		mqtt_topic_filter_valid(exact_copy(test, c->bytes, n), n);
}

/* The length limits of topic names and filters. */
static void topic_length_test(struct kunit *test)
{
	size_t max = MQTT_MAX_FIELD_LEN;
	u8 *s;

	s = kunit_kmalloc(test, max + 1, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, s);
	memset(s, 'a', max + 1);
	KUNIT_EXPECT_FALSE(test, mqtt_topic_name_valid(s, 0));
	KUNIT_EXPECT_FALSE(test, mqtt_topic_filter_valid(s, 0));
	KUNIT_EXPECT_TRUE(test, mqtt_topic_name_valid(s, max));
	KUNIT_EXPECT_FALSE(test, mqtt_topic_name_valid(s, max + 1));
	KUNIT_EXPECT_TRUE(test, mqtt_topic_filter_valid(s, max));
	KUNIT_EXPECT_FALSE(test, mqtt_topic_filter_valid(s, max + 1));
	s[max - 1] = '#';
	s[max - 2] = '/';
	KUNIT_EXPECT_TRUE(test, mqtt_topic_filter_valid(s, max));
	KUNIT_EXPECT_FALSE(test, mqtt_topic_name_valid(s, max));
	KUNIT_EXPECT_TRUE(test, mqtt_utf8_valid(s, max + 1));
}

static struct kunit_case mqtt_codec_cases[] = {
	KUNIT_CASE_PARAM(remlen_encode_test, remlen_gen_params),
	KUNIT_CASE_PARAM(remlen_decode_test, remlen_gen_params),
	KUNIT_CASE_PARAM(remlen_invalid_test, remlen_bad_gen_params),
	KUNIT_CASE(remlen_roundtrip_test),
	KUNIT_CASE(client_flags_test),
	KUNIT_CASE(fixed_header_test),
	KUNIT_CASE_PARAM(connect_encode_test, connect_gen_params),
	KUNIT_CASE(connect_long_test),
	KUNIT_CASE_PARAM(connack_decode_test, connack_gen_params),
	KUNIT_CASE_PARAM(ack_encode_decode_test, ack_gen_params),
	KUNIT_CASE(ack_decode_invalid_test),
	KUNIT_CASE(empty_packets_test),
	KUNIT_CASE_PARAM(publish_header_test, publish_hdr_gen_params),
	KUNIT_CASE(publish_remlen_test),
	KUNIT_CASE(publish_roundtrip_test),
	KUNIT_CASE_PARAM(publish_decode_test, publish_gen_params),
	KUNIT_CASE_PARAM(subscribe_encode_test, subscribe_gen_params),
	KUNIT_CASE(subscribe_long_test),
	KUNIT_CASE_PARAM(utf8_test, utf8_gen_params),
	KUNIT_CASE_PARAM(topic_name_test, topic_name_gen_params),
	KUNIT_CASE_PARAM(topic_filter_test, topic_filter_gen_params),
	KUNIT_CASE(topic_length_test),
	{}
};

static struct kunit_suite mqtt_codec_suite = {
	.name = "mqtt_codec",
	.test_cases = mqtt_codec_cases,
};

kunit_test_suite(mqtt_codec_suite);

MODULE_DESCRIPTION("KUnit tests of the AF_MQTT codec");
MODULE_LICENSE("GPL");
