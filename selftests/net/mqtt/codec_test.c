// SPDX-License-Identifier: GPL-2.0
/*
 * The AF_MQTT codec (net/mqtt/codec.c) built in user space and checked
 * against the MQTT 3.1.1 standard's examples and limits.
 */
#include <errno.h>
#include <string.h>

#include "../../../net/mqtt/codec.h"
#include "kselftest_harness.h"

/* Remaining Length at every size boundary (2.2.3, table 2.4). */
FIXTURE(remlen) {};
FIXTURE_SETUP(remlen) {}
FIXTURE_TEARDOWN(remlen) {}

FIXTURE_VARIANT(remlen) {
	__u32 value;
	unsigned int size;
	__u8 bytes[4];
};

#define REMLEN_CASE(name, v, n, ...)					\
	FIXTURE_VARIANT_ADD(remlen, name) {				\
		.value = v, .size = n, .bytes = { __VA_ARGS__ },	\
	}

REMLEN_CASE(zero, 0, 1, 0x00);
REMLEN_CASE(max_1, 127, 1, 0x7f);
REMLEN_CASE(min_2, 128, 2, 0x80, 0x01);
REMLEN_CASE(max_2, 16383, 2, 0xff, 0x7f);
REMLEN_CASE(min_3, 16384, 3, 0x80, 0x80, 0x01);
REMLEN_CASE(max_3, 2097151, 3, 0xff, 0xff, 0x7f);
REMLEN_CASE(min_4, 2097152, 4, 0x80, 0x80, 0x80, 0x01);
REMLEN_CASE(max_4, 268435455, 4, 0xff, 0xff, 0xff, 0x7f);

TEST_F(remlen, encode)
{
	__u8 buf[MQTT_REMLEN_MAX_BYTES];

	ASSERT_EQ(variant->size, mqtt_remlen_size(variant->value));
	ASSERT_EQ(variant->size, mqtt_encode_remlen(buf, variant->value));
	ASSERT_EQ(0, memcmp(buf, variant->bytes, variant->size));
}

TEST_F(remlen, decode)
{
	__u32 v = 0;

	ASSERT_EQ((int)variant->size,
		  mqtt_decode_remlen(variant->bytes, variant->size, &v));
	ASSERT_EQ(variant->value, v);
}

TEST_F(remlen, decode_truncated)
{
	unsigned int len;
	__u32 v;

	for (len = 0; len < variant->size; len++)
		ASSERT_EQ(-EAGAIN, mqtt_decode_remlen(variant->bytes, len, &v));
}

TEST(remlen_five_bytes_malformed)
{
	const __u8 b[] = { 0x80, 0x80, 0x80, 0x80, 0x01 };
	__u32 v;

	ASSERT_EQ(-EPROTO, mqtt_decode_remlen(b, sizeof(b), &v));
}

TEST(remlen_not_minimal_malformed)
{
	const __u8 b[] = { 0x82, 0x00 };
	__u32 v;

	ASSERT_EQ(-EPROTO, mqtt_decode_remlen(b, sizeof(b), &v));
}

/* CONNECT with every field: the standard's layout, byte for byte. */
TEST(connect_all_fields)
{
	static const __u8 want[] = {
		0x10, 34,
		0, 4, 'M', 'Q', 'T', 'T', 4,
		0xf6,		/* user, password, will retain, QoS 2, will, clean */
		0x01, 0x2c,	/* keepalive 300 */
		0, 2, 'i', 'd',
		0, 3, 'w', '/', 't',
		0, 2, 0, 'm',
		0, 4, 'u', 's', 'e', 'r',
		0, 3, 'p', 0, 'w',
	};
	struct mqtt_connect_params p = {
		.client_id = { (const __u8 *)"id", 2 },
		.will_topic = { (const __u8 *)"w/t", 3 },
		.will_message = { (const __u8 *)"\0m", 2 },
		.username = { (const __u8 *)"user", 4 },
		.password = { (const __u8 *)"p\0w", 3 },
		.keepalive = 300,
		.level = MQTT_PROTOCOL_V311,
		.will_qos = 2,
		.will_retain = true,
		.clean_session = true,
	};
	__u8 buf[sizeof(want)];

	ASSERT_EQ(sizeof(want), mqtt_connect_size(&p));
	ASSERT_EQ(sizeof(want), mqtt_encode_connect(buf, &p));
	ASSERT_EQ(0, memcmp(buf, want, sizeof(want)));
}

/* Without a will topic, will QoS and retain stay 0 [MQTT-3.1.2-11..15]. */
TEST(connect_v31_no_will)
{
	static const __u8 want[] = {
		0x10, 14,
		0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3,
		0x00, 0x00, 0x00,
		0, 0,
	};
	struct mqtt_connect_params p = {
		.level = MQTT_PROTOCOL_V31,
		.will_qos = 1,
		.will_retain = true,
	};
	__u8 buf[sizeof(want)];

	ASSERT_EQ(sizeof(want), mqtt_connect_size(&p));
	ASSERT_EQ(sizeof(want), mqtt_encode_connect(buf, &p));
	ASSERT_EQ(0, memcmp(buf, want, sizeof(want)));
}

/* The largest CONNECT: five 65,535-byte fields, a 3-byte length. */
TEST(connect_largest)
{
	static __u8 field[MQTT_MAX_FIELD_LEN], buf[400000];
	struct mqtt_field f = { field, sizeof(field) };
	struct mqtt_connect_params p = {
		.client_id = f, .will_topic = f, .will_message = f,
		.username = f, .password = f, .level = MQTT_PROTOCOL_V311,
	};
	__u32 rem = 10 + 5 * (2 + MQTT_MAX_FIELD_LEN);
	size_t n;
	__u32 v;

	n = mqtt_encode_connect(buf, &p);
	ASSERT_EQ(1 + 3 + rem, n);
	ASSERT_EQ(n, mqtt_connect_size(&p));
	ASSERT_EQ(3, mqtt_decode_remlen(buf + 1, n - 1, &v));
	ASSERT_EQ(rem, v);
}

FIXTURE(connack) {};
FIXTURE_SETUP(connack) {}
FIXTURE_TEARDOWN(connack) {}

FIXTURE_VARIANT(connack) {
	__u8 bytes[6];
	unsigned int len;
	int err;		/* for the whole of bytes */
	unsigned int bad_at;	/* first prefix length that is -EPROTO */
};

FIXTURE_VARIANT_ADD(connack, accepted) {
	.bytes = { 0x20, 2, 0, 0 }, .len = 4, .err = 0,
};
FIXTURE_VARIANT_ADD(connack, session_present) {
	.bytes = { 0x20, 2, 1, 0 }, .len = 4, .err = 0,
};
FIXTURE_VARIANT_ADD(connack, reserved_code) {
	.bytes = { 0x20, 2, 0, 0xff }, .len = 4, .err = 0,
};
FIXTURE_VARIANT_ADD(connack, wrong_type) {
	.bytes = { 0xd0, 0 }, .len = 2, .err = -EPROTO, .bad_at = 1,
};
FIXTURE_VARIANT_ADD(connack, reserved_flags) {
	.bytes = { 0x21, 2, 0, 0 }, .len = 4, .err = -EPROTO, .bad_at = 1,
};
FIXTURE_VARIANT_ADD(connack, remlen_3) {
	.bytes = { 0x20, 3, 0, 0, 0 }, .len = 5, .err = -EPROTO, .bad_at = 2,
};
FIXTURE_VARIANT_ADD(connack, remlen_5_bytes) {
	.bytes = { 0x20, 0x80, 0x80, 0x80, 0x80, 0x01 }, .len = 6,
	.err = -EPROTO, .bad_at = 2,
};
FIXTURE_VARIANT_ADD(connack, reserved_ack_bits) {
	.bytes = { 0x20, 2, 2, 0 }, .len = 4, .err = -EPROTO, .bad_at = 3,
};
FIXTURE_VARIANT_ADD(connack, session_present_refused) {
	.bytes = { 0x20, 2, 1, 5 }, .len = 4, .err = -EPROTO, .bad_at = 4,
};

TEST_F(connack, decode)
{
	struct mqtt_connack_info ack = { 0xaa, 0xaa };

	ASSERT_EQ(variant->err, mqtt_decode_connack(variant->bytes,
						    variant->len, &ack));
	if (variant->err)
		return;
	ASSERT_EQ(variant->bytes[2], ack.session_present);
	ASSERT_EQ(variant->bytes[3], ack.return_code);
}

/* Each byte is judged when it arrives: no waiting on a lost cause. */
TEST_F(connack, decode_prefixes)
{
	struct mqtt_connack_info ack;
	unsigned int len;

	for (len = 0; len < variant->len && len < MQTT_CONNACK_SIZE; len++) {
		int want = variant->bad_at && len >= variant->bad_at ?
			   -EPROTO : -EAGAIN;

		ASSERT_EQ(want, mqtt_decode_connack(variant->bytes, len, &ack))
			TH_LOG("prefix of %u bytes", len);
	}
}

FIXTURE(utf8) {};
FIXTURE_SETUP(utf8) {}
FIXTURE_TEARDOWN(utf8) {}

FIXTURE_VARIANT(utf8) {
	const char *s;
	unsigned int len;
	bool valid;
};

#define UTF8_CASE(name, str, ok)					\
	FIXTURE_VARIANT_ADD(utf8, name) {				\
		.s = str, .len = sizeof(str) - 1, .valid = ok,		\
	}

UTF8_CASE(empty, "", true);
UTF8_CASE(ascii, "gw-17/temp", true);
UTF8_CASE(two_bytes, "\xc3\xa9", true);
UTF8_CASE(three_bytes, "\xe2\x82\xac", true);
UTF8_CASE(four_bytes, "\xf0\x9f\x98\x80", true);
UTF8_CASE(bom_kept, "\xef\xbb\xbf" "a", true);		/* [MQTT-1.5.3-3] */
UTF8_CASE(max_codepoint, "\xf4\x8f\xbf\xbf", true);
UTF8_CASE(nul, "a\0b", false);				/* [MQTT-1.5.3-2] */
UTF8_CASE(overlong_nul, "\xc0\x80", false);
UTF8_CASE(overlong_3, "\xe0\x80\xaf", false);
UTF8_CASE(overlong_4, "\xf0\x80\x80\xaf", false);
UTF8_CASE(surrogate_first, "\xed\xa0\x80", false);	/* [MQTT-1.5.3-1] */
UTF8_CASE(surrogate_last, "\xed\xbf\xbf", false);
UTF8_CASE(above_max, "\xf4\x90\x80\x80", false);
UTF8_CASE(lone_continuation, "\x80", false);
UTF8_CASE(truncated, "a\xe2\x82", false);
UTF8_CASE(bad_continuation, "\xc3\x28", false);
UTF8_CASE(five_byte_lead, "\xf8\x88\x80\x80\x80", false);
UTF8_CASE(ff, "\xff", false);

TEST_F(utf8, valid)
{
	ASSERT_EQ(variant->valid,
		  mqtt_utf8_valid((const __u8 *)variant->s, variant->len));
}

TEST(topic_names)
{
	ASSERT_TRUE(mqtt_topic_name_valid((const __u8 *)"a/b", 3));
	ASSERT_TRUE(mqtt_topic_name_valid((const __u8 *)"/", 1));
	ASSERT_FALSE(mqtt_topic_name_valid((const __u8 *)"", 0));
	ASSERT_FALSE(mqtt_topic_name_valid((const __u8 *)"a/+", 3));
	ASSERT_FALSE(mqtt_topic_name_valid((const __u8 *)"#", 1));
	ASSERT_FALSE(mqtt_topic_name_valid((const __u8 *)"a\0", 2));
}

TEST(empty_packets)
{
	__u8 buf[MQTT_EMPTY_PKT_SIZE];

	ASSERT_EQ((size_t)MQTT_EMPTY_PKT_SIZE, mqtt_encode_empty(buf, MQTT_PKT_DISCONNECT));
	ASSERT_EQ(0xe0, buf[0]);
	ASSERT_EQ(0x00, buf[1]);
	ASSERT_EQ((size_t)MQTT_EMPTY_PKT_SIZE, mqtt_encode_empty(buf, MQTT_PKT_PINGREQ));
	ASSERT_EQ(0xc0, buf[0]);
}

TEST_HARNESS_MAIN
