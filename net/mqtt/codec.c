// SPDX-License-Identifier: GPL-2.0
/*
 * MQTT 3.1.1 packet encoder and decoder; see codec.h for the rules.
 */
#ifdef __KERNEL__
#include <linux/string.h>
#else
#include <string.h>
#endif

#include "codec.h"

/* Unicode limits that bound well-formed UTF-8 (RFC 3629, 1.5.3). */
#define UTF8_MAX_CODEPOINT	0x10ffff
#define UTF8_SURROGATE_FIRST	0xd800
#define UTF8_SURROGATE_LAST	0xdfff
#define UTF8_CONT_MASK		0xc0
#define UTF8_CONT_BITS		0x80
#define UTF8_CONT_SHIFT		6
#define UTF8_CONT_VALUE		0x3f
#define UTF8_ASCII_END		0x80

/**
 * mqtt_remlen_size() - bytes needed to encode a Remaining Length
 * @len: the value, at most %MQTT_REMLEN_MAX
 *
 * Return: 1 to %MQTT_REMLEN_MAX_BYTES.
 */
unsigned int mqtt_remlen_size(u32 len)
{
	unsigned int n = 1;

	while (len > MQTT_REMLEN_DIGIT_MASK) {
		len >>= MQTT_REMLEN_DIGIT_BITS;
		n++;
	}
	return n;
}

/**
 * mqtt_encode_remlen() - write a Remaining Length
 * @buf: room for mqtt_remlen_size(@len) bytes
 * @len: the value, at most %MQTT_REMLEN_MAX
 *
 * Return: the number of bytes written.
 */
unsigned int mqtt_encode_remlen(u8 *buf, u32 len)
{
	unsigned int n = 0;

	do {
		u8 digit = len & MQTT_REMLEN_DIGIT_MASK;

		len >>= MQTT_REMLEN_DIGIT_BITS;
		if (len)
			digit |= MQTT_REMLEN_CONTINUE;
		buf[n++] = digit;
	} while (len);
	return n;
}

/**
 * mqtt_decode_remlen() - read a Remaining Length
 * @buf: the bytes after the fixed header's first byte
 * @len: how many of them are available
 * @value: the decoded value, on success
 *
 * A fifth byte, or an encoding longer than the value needs (the standard's
 * encoder never produces one), is malformed.
 *
 * Return: the number of bytes used, -EAGAIN if @buf ends inside the field,
 * -EPROTO if it is malformed.
 */
int mqtt_decode_remlen(const u8 *buf, size_t len, u32 *value)
{
	u32 v = 0;
	unsigned int i;

	for (i = 0; i < MQTT_REMLEN_MAX_BYTES; i++) {
		if (i >= len)
			return -EAGAIN;
		v |= (u32)(buf[i] & MQTT_REMLEN_DIGIT_MASK) <<
		     (MQTT_REMLEN_DIGIT_BITS * i);
		if (!(buf[i] & MQTT_REMLEN_CONTINUE)) {
			/* A last digit of 0 after others: not minimal. */
			if (i && !buf[i])
				return -EPROTO;
			*value = v;
			return i + 1;
		}
	}
	return -EPROTO;
}

static size_t field_size(const struct mqtt_field *f)
{
	return MQTT_LEN_PREFIX + f->len;
}

static u8 *put_u16(u8 *p, u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
	return p + 2;
}

static u8 *put_field(u8 *p, const void *data, u32 len)
{
	p = put_u16(p, len);
	if (len)
		memcpy(p, data, len);
	return p + len;
}

static const char *proto_name(u8 level)
{
	return level == MQTT_PROTOCOL_V31 ? MQTT_PROTO_NAME_V31 :
					 MQTT_PROTO_NAME_V311;
}

static u32 connect_remlen(const struct mqtt_connect_params *p)
{
	size_t n = MQTT_LEN_PREFIX + strlen(proto_name(p->level)) +
		   MQTT_CONNECT_VHDR_TAIL + field_size(&p->client_id);

	if (p->will_topic.data)
		n += field_size(&p->will_topic) + field_size(&p->will_message);
	if (p->username.data)
		n += field_size(&p->username);
	if (p->password.data)
		n += field_size(&p->password);
	return n;
}

/**
 * mqtt_connect_size() - size of the CONNECT packet for @p
 * @p: the parameters; every field at most %MQTT_MAX_FIELD_LEN bytes
 *
 * Five fields of at most %MQTT_MAX_FIELD_LEN bytes stay far below
 * %MQTT_REMLEN_MAX, so every valid @p can be encoded.
 *
 * Return: the whole packet's size in bytes, fixed header included.
 */
size_t mqtt_connect_size(const struct mqtt_connect_params *p)
{
	u32 rem = connect_remlen(p);

	return 1 + mqtt_remlen_size(rem) + rem;
}

/**
 * mqtt_encode_connect() - write a CONNECT packet (3.1)
 * @buf: room for mqtt_connect_size(@p) bytes
 * @p: the parameters
 *
 * The will flag, QoS and retain are set only with a will topic
 * [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]; the payload order is
 * the standard's [MQTT-3.1.3-1].
 *
 * Return: the number of bytes written.
 */
size_t mqtt_encode_connect(u8 *buf, const struct mqtt_connect_params *p)
{
	const char *name = proto_name(p->level);
	u8 flags = 0;
	u8 *q = buf;

	if (p->username.data)
		flags |= MQTT_CONNECT_F_USERNAME;
	if (p->password.data)
		flags |= MQTT_CONNECT_F_PASSWORD;
	if (p->will_topic.data) {
		flags |= MQTT_CONNECT_F_WILL;
		flags |= p->will_qos << MQTT_CONNECT_WILL_QOS_SHIFT;
		if (p->will_retain)
			flags |= MQTT_CONNECT_F_WILL_RETAIN;
	}
	if (p->clean_session)
		flags |= MQTT_CONNECT_F_CLEAN_SESSION;

	*q++ = MQTT_HDR(MQTT_PKT_CONNECT, 0);
	q += mqtt_encode_remlen(q, connect_remlen(p));
	q = put_field(q, name, strlen(name));
	*q++ = p->level;
	*q++ = flags;
	q = put_u16(q, p->keepalive);
	q = put_field(q, p->client_id.data, p->client_id.len);
	if (p->will_topic.data) {
		q = put_field(q, p->will_topic.data, p->will_topic.len);
		q = put_field(q, p->will_message.data, p->will_message.len);
	}
	if (p->username.data)
		q = put_field(q, p->username.data, p->username.len);
	if (p->password.data)
		q = put_field(q, p->password.data, p->password.len);
	return q - buf;
}

/**
 * mqtt_decode_connack() - check and decode a CONNACK (3.2)
 * @buf: bytes received so far, from the packet's first byte
 * @len: how many
 * @ack: the decoded CONNACK, on success
 *
 * Each byte is judged as soon as it is there, so a peer that sends a bad
 * first byte and then stays silent is caught at once.  Reserved return
 * codes (6..255) are not an error here: the caller reports them.
 *
 * Return: 0 when @buf starts with a complete CONNACK, -EAGAIN when it is
 * a valid beginning of one, -EPROTO when it can never be one.
 */
int mqtt_decode_connack(const u8 *buf, size_t len,
			struct mqtt_connack_info *ack)
{
	u8 ack_flags;

	if (len < 1)
		return -EAGAIN;
	/* Type CONNACK, reserved flags 0000 [MQTT-2.2.2-1]. */
	if (buf[0] != MQTT_HDR(MQTT_PKT_CONNACK, 0))
		return -EPROTO;
	if (len < 2)
		return -EAGAIN;
	/* Remaining length 2, in its one-byte form. */
	if (buf[1] != MQTT_CONNACK_REMLEN)
		return -EPROTO;
	if (len < 3)
		return -EAGAIN;
	ack_flags = buf[2];
	if (ack_flags & ~MQTT_CONNACK_F_SESSION_PRESENT)
		return -EPROTO;
	if (len < MQTT_CONNACK_SIZE)
		return -EAGAIN;
	/* A refusal never comes with a session [MQTT-3.2.2-4]. */
	if ((ack_flags & MQTT_CONNACK_F_SESSION_PRESENT) && buf[3])
		return -EPROTO;
	ack->session_present = ack_flags & MQTT_CONNACK_F_SESSION_PRESENT;
	ack->return_code = buf[3];
	return 0;
}

/**
 * mqtt_encode_empty() - write a packet that is a fixed header alone
 * @buf: room for %MQTT_EMPTY_PKT_SIZE bytes
 * @type: %MQTT_PKT_PINGREQ or %MQTT_PKT_DISCONNECT
 *
 * Return: %MQTT_EMPTY_PKT_SIZE.
 */
size_t mqtt_encode_empty(u8 *buf, u8 type)
{
	buf[0] = MQTT_HDR(type, 0);
	buf[1] = 0;
	return MQTT_EMPTY_PKT_SIZE;
}

/* Length of the sequence a lead byte starts, and its payload bits. */
static unsigned int utf8_lead(u8 c, u32 *cp, u32 *min)
{
	if ((c & 0xe0) == 0xc0) {
		*cp = c & 0x1f;
		*min = 0x80;
		return 2;
	}
	if ((c & 0xf0) == 0xe0) {
		*cp = c & 0x0f;
		*min = 0x800;
		return 3;
	}
	if ((c & 0xf8) == 0xf0) {
		*cp = c & 0x07;
		*min = 0x10000;
		return 4;
	}
	return 0;
}

/**
 * mqtt_utf8_valid() - is @s a string MQTT accepts (1.5.3)
 * @s: the bytes
 * @len: how many
 *
 * Well-formed UTF-8 only: no overlong forms, no surrogates
 * [MQTT-1.5.3-1], nothing above U+10FFFF, and no U+0000 [MQTT-1.5.3-2].
 *
 * Return: true if valid.
 */
bool mqtt_utf8_valid(const u8 *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned int n, k;
		u32 cp, min;

		if (s[i] < UTF8_ASCII_END) {
			if (!s[i])
				return false;
			i++;
			continue;
		}
		n = utf8_lead(s[i], &cp, &min);
		if (!n || len - i < n)
			return false;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & UTF8_CONT_MASK) != UTF8_CONT_BITS)
				return false;
			cp = (cp << UTF8_CONT_SHIFT) | (s[i + k] & UTF8_CONT_VALUE);
		}
		if (cp < min || cp > UTF8_MAX_CODEPOINT ||
		    (cp >= UTF8_SURROGATE_FIRST && cp <= UTF8_SURROGATE_LAST))
			return false;
		i += n;
	}
	return true;
}

/**
 * mqtt_topic_name_valid() - can @s name a topic to publish to (4.7)
 * @s: the bytes
 * @len: how many
 *
 * A topic name is valid UTF-8 of 1 to %MQTT_MAX_FIELD_LEN bytes without
 * wildcard characters.
 *
 * Return: true if valid.
 */
bool mqtt_topic_name_valid(const u8 *s, size_t len)
{
	size_t i;

	if (!len || len > MQTT_MAX_FIELD_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] == MQTT_TOPIC_WILD_ONE || s[i] == MQTT_TOPIC_WILD_ALL)
			return false;
	return mqtt_utf8_valid(s, len);
}

/**
 * mqtt_topic_filter_valid() - can @s be subscribed to (4.7)
 * @s: the bytes
 * @len: how many
 *
 * Valid UTF-8 of 1 to %MQTT_MAX_FIELD_LEN bytes in which '#' stands only
 * alone as the last level and '+' only alone as any level
 * [MQTT-4.7.1-1..3].
 *
 * Return: true if valid.
 */
bool mqtt_topic_filter_valid(const u8 *s, size_t len)
{
	size_t i;

	if (!len || len > MQTT_MAX_FIELD_LEN)
		return false;
	for (i = 0; i < len; i++) {
		bool level_start = !i || s[i - 1] == MQTT_TOPIC_SEP;
		bool level_end = i + 1 == len || s[i + 1] == MQTT_TOPIC_SEP;

		if (s[i] == MQTT_TOPIC_WILD_ALL &&
		    (!level_start || i + 1 != len))
			return false;
		if (s[i] == MQTT_TOPIC_WILD_ONE && (!level_start || !level_end))
			return false;
	}
	return mqtt_utf8_valid(s, len);
}

/**
 * mqtt_encode_ack() - write PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK
 * @buf: room for %MQTT_ACK_SIZE bytes
 * @type: the packet type
 * @pid: the packet identifier
 *
 * PUBREL carries the reserved flags 0010 [MQTT-3.6.1-1].
 *
 * Return: %MQTT_ACK_SIZE.
 */
size_t mqtt_encode_ack(u8 *buf, u8 type, u16 pid)
{
	u8 flags = type == MQTT_PKT_PUBREL ? MQTT_HDR_F_RESERVED_0010 : 0;

	buf[0] = MQTT_HDR(type, flags);
	buf[1] = MQTT_ACK_REMLEN;
	put_u16(buf + 2, pid);
	return MQTT_ACK_SIZE;
}

/**
 * mqtt_decode_fixed_header() - read a fixed header (2.2)
 * @buf: bytes from the packet's first byte
 * @len: how many
 * @byte1: the type and flags byte, on success
 * @remlen: the Remaining Length, on success
 *
 * Return: the header's length, -EAGAIN if incomplete, -EPROTO if
 * malformed.
 */
int mqtt_decode_fixed_header(const u8 *buf, size_t len, u8 *byte1,
			     u32 *remlen)
{
	int n;

	if (len < 1)
		return -EAGAIN;
	n = mqtt_decode_remlen(buf + 1, len - 1, remlen);
	if (n < 0)
		return n;
	*byte1 = buf[0];
	return 1 + n;
}

/**
 * mqtt_client_flags_valid() - are a received packet's type and flags ones
 * a client may get after CONNACK
 * @byte1: the fixed header's first byte
 *
 * A server never sends CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ or
 * DISCONNECT, and CONNACK only once; reserved flag bits must have their
 * listed values [MQTT-2.2.2-1]; PUBLISH may not ask for QoS 3
 * [MQTT-3.3.1-4] nor set DUP with QoS 0 [MQTT-3.3.1-2].
 *
 * Return: true if valid.
 */
bool mqtt_client_flags_valid(u8 byte1)
{
	u8 flags = byte1 & MQTT_HDR_FLAGS_MASK;
	u8 qos;

	switch (byte1 >> MQTT_HDR_TYPE_SHIFT) {
	case MQTT_PKT_PUBLISH:
		qos = (flags & MQTT_PUBLISH_QOS_MASK) >> MQTT_PUBLISH_QOS_SHIFT;
		if (qos > MQTT_QOS_MAX)
			return false;
		return qos || !(flags & MQTT_PUBLISH_F_DUP);
	case MQTT_PKT_PUBREL:
		return flags == MQTT_HDR_F_RESERVED_0010;
	case MQTT_PKT_PUBACK:
	case MQTT_PKT_PUBREC:
	case MQTT_PKT_PUBCOMP:
	case MQTT_PKT_SUBACK:
	case MQTT_PKT_UNSUBACK:
	case MQTT_PKT_PINGRESP:
		return !flags;
	default:
		return false;
	}
}

/**
 * mqtt_publish_remlen() - Remaining Length of a PUBLISH
 * @topic_len: topic name length
 * @qos: QoS, which decides whether a packet identifier is present
 * @payload_len: payload length
 *
 * Return: the value; the caller checks it against %MQTT_REMLEN_MAX.
 */
u64 mqtt_publish_remlen(u32 topic_len, u8 qos, size_t payload_len)
{
	return (u64)MQTT_LEN_PREFIX + topic_len + (qos ? MQTT_PID_SIZE : 0) +
	       payload_len;
}

/**
 * mqtt_encode_publish_header() - write a PUBLISH up to its topic name
 * @buf: room for %MQTT_FIXED_HDR_MAX + %MQTT_LEN_PREFIX bytes
 * @qos: QoS 0..2
 * @retain: retain flag
 * @remlen: mqtt_publish_remlen(), at most %MQTT_REMLEN_MAX
 * @topic_len: topic name length
 *
 * The topic name, the packet identifier (QoS 1 and 2) and the payload
 * follow.  DUP is 0: a socket never retransmits on a new connection.
 *
 * Return: the number of bytes written.
 */
size_t mqtt_encode_publish_header(u8 *buf, u8 qos, bool retain,
				  u32 remlen, u32 topic_len)
{
	u8 flags = qos << MQTT_PUBLISH_QOS_SHIFT;
	u8 *q = buf;

	if (retain)
		flags |= MQTT_PUBLISH_F_RETAIN;
	*q++ = MQTT_HDR(MQTT_PKT_PUBLISH, flags);
	q += mqtt_encode_remlen(q, remlen);
	q = put_u16(q, topic_len);
	return q - buf;
}

static u16 get_u16(const u8 *p)
{
	return (u16)p[0] << 8 | p[1];
}

/**
 * mqtt_decode_publish() - check and locate the parts of a PUBLISH body
 * @body: the bytes after the fixed header
 * @len: the Remaining Length
 * @byte1: the fixed header's first byte, already checked with
 *	mqtt_client_flags_valid()
 * @pub: the result
 *
 * The topic must be a valid topic name [MQTT-3.3.2-1], [MQTT-3.3.2-2]
 * and the packet identifier of QoS 1 and 2 non-zero [MQTT-2.3.1-1].
 *
 * Return: 0 or -EPROTO.
 */
int mqtt_decode_publish(const u8 *body, u32 len, u8 byte1,
			struct mqtt_publish_info *pub)
{
	u8 flags = byte1 & MQTT_HDR_FLAGS_MASK;
	u32 off;

	pub->qos = (flags & MQTT_PUBLISH_QOS_MASK) >> MQTT_PUBLISH_QOS_SHIFT;
	pub->retain = flags & MQTT_PUBLISH_F_RETAIN;
	pub->dup = flags & MQTT_PUBLISH_F_DUP;
	if (len < MQTT_LEN_PREFIX)
		return -EPROTO;
	pub->topic_off = MQTT_LEN_PREFIX;
	pub->topic_len = get_u16(body);
	off = pub->topic_off + pub->topic_len;
	if (off > len || !mqtt_topic_name_valid(body + pub->topic_off,
						pub->topic_len))
		return -EPROTO;
	pub->pid = 0;
	if (pub->qos) {
		if (len - off < MQTT_PID_SIZE)
			return -EPROTO;
		pub->pid = get_u16(body + off);
		if (!pub->pid)
			return -EPROTO;
		off += MQTT_PID_SIZE;
	}
	pub->payload_off = off;
	pub->payload_len = len - off;
	return 0;
}

/**
 * mqtt_decode_ack() - read the packet identifier of an acknowledgment
 * @body: the bytes after the fixed header
 * @len: the Remaining Length
 * @pid: the identifier, non-zero, on success
 *
 * Return: 0 or -EPROTO.
 */
int mqtt_decode_ack(const u8 *body, u32 len, u16 *pid)
{
	if (len != MQTT_ACK_REMLEN)
		return -EPROTO;
	*pid = get_u16(body);
	return *pid ? 0 : -EPROTO;
}

static u32 subscribe_remlen(u8 type, u32 filter_len)
{
	return MQTT_PID_SIZE + MQTT_LEN_PREFIX + filter_len +
	       (type == MQTT_PKT_SUBSCRIBE ? 1 : 0);
}

/**
 * mqtt_subscribe_size() - size of a one-filter SUBSCRIBE or UNSUBSCRIBE
 * @type: %MQTT_PKT_SUBSCRIBE or %MQTT_PKT_UNSUBSCRIBE
 * @filter_len: the filter's length, at most %MQTT_MAX_FIELD_LEN
 *
 * Return: the whole packet's size.
 */
size_t mqtt_subscribe_size(u8 type, u32 filter_len)
{
	u32 rem = subscribe_remlen(type, filter_len);

	return 1 + mqtt_remlen_size(rem) + rem;
}

/**
 * mqtt_encode_subscribe() - write a one-filter SUBSCRIBE or UNSUBSCRIBE
 * @buf: room for mqtt_subscribe_size() bytes
 * @type: %MQTT_PKT_SUBSCRIBE or %MQTT_PKT_UNSUBSCRIBE
 * @pid: packet identifier
 * @filter: a valid topic filter
 * @filter_len: its length
 * @qos: requested QoS (SUBSCRIBE only)
 *
 * Return: the number of bytes written.
 */
size_t mqtt_encode_subscribe(u8 *buf, u8 type, u16 pid, const u8 *filter,
			     u32 filter_len, u8 qos)
{
	u8 *q = buf;

	*q++ = MQTT_HDR(type, MQTT_HDR_F_RESERVED_0010);
	q += mqtt_encode_remlen(q, subscribe_remlen(type, filter_len));
	q = put_u16(q, pid);
	q = put_field(q, filter, filter_len);
	if (type == MQTT_PKT_SUBSCRIBE)
		*q++ = qos;
	return q - buf;
}
