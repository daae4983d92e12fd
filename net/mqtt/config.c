// SPDX-License-Identifier: GPL-2.0
/*
 * The option store: what setsockopt(SOL_MQTT) configures, validated,
 * kept in struct mqtt_config and read back.
 *
 * A value that fails validation leaves the old one in place.  The
 * password is write-only and zeroed whenever it is dropped.  Called by
 * the system calls (sockopt.c) and read by the layers below them; it
 * calls nothing of net/mqtt but the codec's validators.
 */
#include <linux/limits.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/sockptr.h>

#include "mqtt.h"

#define MQTT_DEFAULT_KEEPALIVE		60
#define MQTT_DEFAULT_CONNECT_TIMEOUT_MS	30000
#define MQTT_DEFAULT_ACK_TIMEOUT_MS	30000
#define MQTT_DEFAULT_INFLIGHT_MAX	64
/* A 1 MiB payload with a long topic fits. */
#define MQTT_DEFAULT_RECV_MAX		(2 << 20)

/* What a string or binary option must contain. */
enum mqtt_field_kind {
	MQTT_KIND_UTF8,		/* UTF-8 string, may be empty */
	MQTT_KIND_TOPIC,	/* topic name: UTF-8, not empty, no wildcards */
	MQTT_KIND_BINARY,	/* any bytes */
	MQTT_KIND_SECRET,	/* any bytes, never read back, zeroed on free */
};

/* Where each integer option is kept in struct mqtt_config, and its
 * range; size == 0 marks a non-integer option.
 */
struct mqtt_int_opt {
	u16 off;
	u8 size;
	int min;
	int max;
};

static const struct mqtt_int_opt mqtt_int_opts[] = {
	[MQTT_KEEPALIVE] = {
		offsetof(struct mqtt_config, keepalive),
		sizeof_field(struct mqtt_config, keepalive), 0, U16_MAX
	},
	[MQTT_CLEAN_SESSION] = {
		offsetof(struct mqtt_config, clean_session),
		sizeof_field(struct mqtt_config, clean_session), 0, 1
	},
	[MQTT_WILL_QOS] = {
		offsetof(struct mqtt_config, will_qos),
		sizeof_field(struct mqtt_config, will_qos), 0, MQTT_QOS_MAX
	},
	[MQTT_WILL_RETAIN] = {
		offsetof(struct mqtt_config, will_retain),
		sizeof_field(struct mqtt_config, will_retain), 0, 1
	},
	[MQTT_PROTOCOL_LEVEL] = {
		offsetof(struct mqtt_config, level),
		sizeof_field(struct mqtt_config, level), MQTT_PROTOCOL_V31, MQTT_PROTOCOL_V311
	},
	[MQTT_CONNECT_TIMEOUT] = {
		offsetof(struct mqtt_config, connect_timeout_ms),
		sizeof_field(struct mqtt_config, connect_timeout_ms), 1, INT_MAX
	},
	[MQTT_PUBLISH_QOS] = {
		offsetof(struct mqtt_config, publish_qos),
		sizeof_field(struct mqtt_config, publish_qos), 0, MQTT_QOS_MAX
	},
	[MQTT_PUBLISH_RETAIN] = {
		offsetof(struct mqtt_config, publish_retain),
		sizeof_field(struct mqtt_config, publish_retain), 0, 1
	},
	[MQTT_INFLIGHT_MAX] = {
		offsetof(struct mqtt_config, inflight_max),
		sizeof_field(struct mqtt_config, inflight_max), 1, MQTT_PID_MAX
	},
	[MQTT_DELIVERY_REPORTS] = {
		offsetof(struct mqtt_config, delivery_reports),
		sizeof_field(struct mqtt_config, delivery_reports), 0, 1
	},
	[MQTT_ACK_TIMEOUT] = {
		offsetof(struct mqtt_config, ack_timeout_ms),
		sizeof_field(struct mqtt_config, ack_timeout_ms), 1, INT_MAX
	},
	[MQTT_RECV_MAX] = {
		offsetof(struct mqtt_config, recv_max),
		sizeof_field(struct mqtt_config, recv_max), 1, MQTT_REMLEN_MAX
	},
};

/**
 * mqtt_config_connect_opt() - does @optname shape the next CONNECT
 * @optname: an MQTT_* option
 *
 * Return: true for the options fixed once connect() is called.
 */
bool mqtt_config_connect_opt(int optname)
{
	return optname >= MQTT_CLIENT_ID && optname <= MQTT_CONNECT_TIMEOUT;
}

static const struct mqtt_int_opt *mqtt_int_opt(int optname)
{
	if (optname < 0 || optname >= ARRAY_SIZE(mqtt_int_opts) ||
	    !mqtt_int_opts[optname].size)
		return NULL;
	return &mqtt_int_opts[optname];
}

/* Which string option @optname is, and what it must contain. */
static int mqtt_str_opt(int optname, enum mqtt_field_kind *kind)
{
	switch (optname) {
	case MQTT_CLIENT_ID:
		*kind = MQTT_KIND_UTF8;
		return MQTT_STR_CLIENT_ID;
	case MQTT_USERNAME:
		*kind = MQTT_KIND_UTF8;
		return MQTT_STR_USERNAME;
	case MQTT_PASSWORD:
		*kind = MQTT_KIND_SECRET;
		return MQTT_STR_PASSWORD;
	case MQTT_WILL_TOPIC:
		*kind = MQTT_KIND_TOPIC;
		return MQTT_STR_WILL_TOPIC;
	case MQTT_WILL_MESSAGE:
		*kind = MQTT_KIND_BINARY;
		return MQTT_STR_WILL_MESSAGE;
	case MQTT_PUBLISH_TOPIC:
		*kind = MQTT_KIND_TOPIC;
		return MQTT_STR_PUBLISH_TOPIC;
	default:
		return -ENOPROTOOPT;
	}
}

/**
 * mqtt_config_str() - a string or binary option
 * @conf: the configuration
 * @which: the option
 *
 * Return: the value, absent (NULL data) when unset.  Valid until a string
 * option is set next: use it under the socket lock.
 */
struct mqtt_field mqtt_config_str(const struct mqtt_config *conf,
				  enum mqtt_str which)
{
	const struct mqtt_strings *s = conf->strings;
	const u8 *p;
	int i;

	if (!s || !(s->set & BIT(which)))
		return (struct mqtt_field){};
	p = s->data;
	for (i = 0; i < which; i++)
		if (s->set & BIT(i))
			p += MQTT_LEN_PREFIX + get_unaligned_be16(p);
	return (struct mqtt_field){ p + MQTT_LEN_PREFIX,
				    get_unaligned_be16(p) };
}

static size_t mqtt_strings_size(const struct mqtt_strings *s)
{
	const u8 *p = s->data;
	int i;

	for (i = 0; i < MQTT_STR_NR; i++)
		if (s->set & BIT(i))
			p += MQTT_LEN_PREFIX + get_unaligned_be16(p);
	return p - (const u8 *)s;
}

static void mqtt_strings_free(struct mqtt_strings *s)
{
	/* Cheap enough to do for every option; the password needs it. */
	if (s)
		kvfree_sensitive(s, mqtt_strings_size(s));
}

static bool mqtt_str_valid(enum mqtt_field_kind kind, const u8 *s, u32 len)
{
	switch (kind) {
	case MQTT_KIND_UTF8:
		return mqtt_utf8_valid(s, len);
	case MQTT_KIND_TOPIC:
		return mqtt_topic_name_valid(s, len);
	default:
		return true;
	}
}

/* Set option @which to the caller's bytes: a new struct mqtt_strings
 * with the other options copied over replaces the old one once the new
 * value has been copied in and checked.
 */
static int mqtt_set_str(struct mqtt_config *c, enum mqtt_str which,
			enum mqtt_field_kind kind, sockptr_t optval,
			unsigned int optlen)
{
	size_t size = sizeof(struct mqtt_strings) + MQTT_LEN_PREFIX + optlen;
	struct mqtt_strings *new;
	struct mqtt_field f;
	u8 *p, *val = NULL;
	int i;

	if (optlen > MQTT_MAX_FIELD_LEN)
		return -EINVAL;
	for (i = 0; i < MQTT_STR_NR; i++) {
		f = mqtt_config_str(c, i);
		if (i != which && f.data)
			size += MQTT_LEN_PREFIX + f.len;
	}
	new = kvmalloc(size, GFP_KERNEL_ACCOUNT);
	if (!new)
		return -ENOMEM;
	new->set = 0;
	p = new->data;
	for (i = 0; i < MQTT_STR_NR; i++) {
		f = mqtt_config_str(c, i);
		if (i == which)
			f.len = optlen;
		else if (!f.data)
			continue;
		new->set |= BIT(i);
		put_unaligned_be16(f.len, p);
		p += MQTT_LEN_PREFIX;
		if (i == which)
			val = p;
		else
			memcpy(p, f.data, f.len);
		p += f.len;
	}
	if (copy_from_sockptr(val, optval, optlen)) {
		mqtt_strings_free(new);
		return -EFAULT;
	}
	if (!mqtt_str_valid(kind, val, optlen)) {
		mqtt_strings_free(new);
		return -EINVAL;
	}
	mqtt_strings_free(c->strings);
	c->strings = new;
	return 0;
}

/* Values are in range, so they fit their fields.  Written with
 * WRITE_ONCE: poll reads inflight_max locklessly.
 */
static void mqtt_set_int(struct mqtt_config *c, const struct mqtt_int_opt *o,
			 int val)
{
	void *p = (u8 *)c + o->off;

	switch (o->size) {
	case sizeof(u8):
		WRITE_ONCE(*(u8 *)p, val);
		break;
	case sizeof(u16):
		WRITE_ONCE(*(u16 *)p, val);
		break;
	default:
		WRITE_ONCE(*(u32 *)p, val);
		break;
	}
}

static int mqtt_get_int(const struct mqtt_config *c,
			const struct mqtt_int_opt *o)
{
	const void *p = (const u8 *)c + o->off;

	switch (o->size) {
	case sizeof(u8):
		return *(const u8 *)p;
	case sizeof(u16):
		return *(const u16 *)p;
	default:
		return *(const u32 *)p;
	}
}

/**
 * mqtt_config_init() - the defaults of a new socket
 * @conf: the configuration to fill
 */
void mqtt_config_init(struct mqtt_config *conf)
{
	*conf = (struct mqtt_config) {
		.keepalive = MQTT_DEFAULT_KEEPALIVE,
		.clean_session = true,
		.level = MQTT_PROTOCOL_V311,
		.connect_timeout_ms = MQTT_DEFAULT_CONNECT_TIMEOUT_MS,
		.ack_timeout_ms = MQTT_DEFAULT_ACK_TIMEOUT_MS,
		.inflight_max = MQTT_DEFAULT_INFLIGHT_MAX,
		.recv_max = MQTT_DEFAULT_RECV_MAX,
	};
}

/**
 * mqtt_config_free() - free every option, zeroing them
 * @conf: the configuration
 */
void mqtt_config_free(struct mqtt_config *conf)
{
	mqtt_strings_free(conf->strings);
	conf->strings = NULL;
}

/**
 * mqtt_config_set() - store one option from setsockopt()
 * @msk: the socket, locked
 * @optname: an MQTT_* option kept in the store
 * @optval: the value: bytes for string options, an int for the others
 * @optlen: its length
 *
 * Return: 0, -EINVAL for a bad value or length, -ENOPROTOOPT for an
 * option the store does not keep, -EFAULT, -ENOMEM.
 */
int mqtt_config_set(struct mqtt_sock *msk, int optname, sockptr_t optval,
		    unsigned int optlen)
{
	struct mqtt_config *c = &msk->conf;
	const struct mqtt_int_opt *o;
	enum mqtt_field_kind kind;
	int val, which;

	mqtt_lock_held(msk);
	which = mqtt_str_opt(optname, &kind);
	if (which >= 0)
		return mqtt_set_str(c, which, kind, optval, optlen);
	o = mqtt_int_opt(optname);
	if (!o)
		return -ENOPROTOOPT;
	if (optlen < sizeof(int))
		return -EINVAL;
	if (copy_from_sockptr(&val, optval, sizeof(val)))
		return -EFAULT;
	if (val < o->min || val > o->max)
		return -EINVAL;
	mqtt_set_int(c, o, val);
	return 0;
}

/**
 * mqtt_config_get() - read one option back for getsockopt()
 * @msk: the socket, locked
 * @optname: an MQTT_* option kept in the store
 * @val: an integer option's value
 * @str: a string option's value (no data when unset); valid until a
 *	string option is set next
 *
 * Return: 0 with @val filled, 1 with @str filled, -EOPNOTSUPP for the
 * write-only password, -ENOPROTOOPT for an option the store does not
 * keep.
 */
int mqtt_config_get(struct mqtt_sock *msk, int optname, int *val,
		    struct mqtt_field *str)
{
	const struct mqtt_int_opt *o;
	enum mqtt_field_kind kind;
	int which;

	mqtt_lock_held(msk);
	which = mqtt_str_opt(optname, &kind);
	if (which >= 0) {
		if (kind == MQTT_KIND_SECRET)
			return -EOPNOTSUPP;
		*str = mqtt_config_str(&msk->conf, which);
		return 1;
	}
	o = mqtt_int_opt(optname);
	if (!o)
		return -ENOPROTOOPT;
	*val = mqtt_get_int(&msk->conf, o);
	return 0;
}
