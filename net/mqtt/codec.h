/* SPDX-License-Identifier: GPL-2.0 */
/*
 * MQTT 3.1.1 packet encoder and decoder.
 *
 * Pure functions over byte buffers: no socket, no allocation, no locking.
 * The same file builds in the kernel and in user space (fuzzers, unit
 * tests); every length read from the wire is checked against the buffer.
 *
 * Errors: -EAGAIN means "valid so far, need more bytes"; -EPROTO means the
 * bytes can never become a valid packet.
 */
#ifndef _NET_MQTT_CODEC_H
#define _NET_MQTT_CODEC_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/errno.h>
#else
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
#endif

#include <net/mqtt.h>

/**
 * struct mqtt_field - a string or binary field
 * @data: its bytes; NULL when the field is absent
 * @len: number of bytes, at most %MQTT_MAX_FIELD_LEN
 */
struct mqtt_field {
	const u8 *data;
	u32 len;
};

/**
 * struct mqtt_connect_params - everything a CONNECT packet carries
 * @client_id: client identifier; absent is sent as empty
 * @will_topic: will topic; present exactly when there is a will
 * @will_message: will message; sent (maybe empty) when there is a will
 * @username: user name; absent clears the user name flag
 * @password: password; absent clears the password flag
 * @keepalive: keepalive in seconds
 * @level: %MQTT_PROTOCOL_V311 or %MQTT_PROTOCOL_V31
 * @will_qos: will QoS, ignored without a will
 * @will_retain: will retain, ignored without a will
 * @clean_session: clean session flag
 */
struct mqtt_connect_params {
	struct mqtt_field client_id;
	struct mqtt_field will_topic;
	struct mqtt_field will_message;
	struct mqtt_field username;
	struct mqtt_field password;
	u16 keepalive;
	u8 level;
	u8 will_qos;
	bool will_retain;
	bool clean_session;
};

/**
 * struct mqtt_connack_info - a decoded CONNACK
 * @session_present: the session present flag
 * @return_code: the return code, reserved values included
 */
struct mqtt_connack_info {
	u8 session_present;
	u8 return_code;
};

/**
 * struct mqtt_publish_info - where the parts of a received PUBLISH are
 * @topic_off: offset of the topic name in the body
 * @topic_len: its length
 * @payload_off: offset of the payload in the body
 * @payload_len: its length
 * @pid: packet identifier, 0 for QoS 0
 * @qos: QoS 0..2
 * @retain: retain flag
 * @dup: DUP flag
 */
struct mqtt_publish_info {
	u32 topic_off;
	u32 topic_len;
	u32 payload_off;
	u32 payload_len;
	u16 pid;
	u8 qos;
	bool retain;
	bool dup;
};

unsigned int mqtt_remlen_size(u32 len);
unsigned int mqtt_encode_remlen(u8 *buf, u32 len);
int mqtt_decode_remlen(const u8 *buf, size_t len, u32 *value);

size_t mqtt_connect_size(const struct mqtt_connect_params *p);
size_t mqtt_encode_connect(u8 *buf, const struct mqtt_connect_params *p);
int mqtt_decode_connack(const u8 *buf, size_t len,
			struct mqtt_connack_info *ack);
size_t mqtt_encode_empty(u8 *buf, u8 type);
size_t mqtt_encode_ack(u8 *buf, u8 type, u16 pid);

int mqtt_decode_fixed_header(const u8 *buf, size_t len, u8 *byte1,
			     u32 *remlen);
bool mqtt_client_flags_valid(u8 byte1);

u64 mqtt_publish_remlen(u32 topic_len, u8 qos, size_t payload_len);
size_t mqtt_encode_publish_header(u8 *buf, u8 qos, bool retain,
				  u32 remlen, u32 topic_len);
int mqtt_decode_publish(const u8 *body, u32 len, u8 byte1,
			struct mqtt_publish_info *pub);
int mqtt_decode_ack(const u8 *body, u32 len, u16 *pid);

size_t mqtt_subscribe_size(u8 type, u32 filter_len);
size_t mqtt_encode_subscribe(u8 *buf, u8 type, u16 pid, const u8 *filter,
			     u32 filter_len, u8 qos);

bool mqtt_utf8_valid(const u8 *s, size_t len);
bool mqtt_topic_name_valid(const u8 *s, size_t len);
bool mqtt_topic_filter_valid(const u8 *s, size_t len);

#endif /* _NET_MQTT_CODEC_H */
